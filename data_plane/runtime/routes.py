"""A compiled route and the table that finds one per request in a few dict lookups.

Precedence is deterministic: exact paths, then the longest matching prefix
(by segment), then regexes in declared order. Within one path, routes are
tried in declared order; a route whose path matches but whose methods do not
makes the answer 405 (with ``Allow``) when nothing else matches.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from data_plane.ai.model_match import ModelMatcher
from data_plane.metrics import RouteMetrics
from data_plane.runtime.matchers import HeaderMatcher, HostMatcher
from data_plane.runtime.regex import LinearRegex
from data_plane.upstream.check_plan import CheckPlan
from data_plane.upstream.load_scraper import LoadPlan
from data_plane.upstream.pool import DEFAULT_LIMITS, PoolLimits
from data_plane.upstream.targets import UpstreamGroup

if TYPE_CHECKING:
    from aiohttp import web

    from data_plane.proxy.exchange import Exchange

# data_plane.filters.Next: the route's filters, composed when the snapshot compiled.
Chain = Callable[["Exchange"], Awaitable["web.StreamResponse"]]

PathKind = Literal["prefix", "exact", "regex"]


@dataclass(frozen=True, slots=True)
class RouteTimeouts:
    connect: float
    first_byte: float
    idle: float
    total: float | None


@dataclass(frozen=True, slots=True)
class RouteRetries:
    attempts: int = 2
    on_statuses: frozenset[int] = frozenset({502, 503, 504})
    per_try_timeout: float | None = None


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRoute:
    id: str
    name: str
    kind: PathKind
    path: str
    methods: frozenset[str] | None  # None: any method
    headers: tuple[HeaderMatcher, ...]
    hosts: HostMatcher | None
    upstream: UpstreamGroup
    timeouts: RouteTimeouts
    strip_prefix: bool = False
    rewrite_prefix: str | None = None
    regex: LinearRegex | None = None
    retries: RouteRetries = RouteRetries()
    hash_on: str | None = None  # consistent hash: a header name, or "consumer"
    health_check: CheckPlan | None = None
    load_plan: LoadPlan | None = None  # least-loaded: how its targets' load is read
    pool_limits: PoolLimits = DEFAULT_LIMITS
    chain: Chain | None = None  # None only before the snapshot's chains are composed
    ai_chain: Chain | None = None  # for requests whose path ends like an AI API (None: none can)
    metrics: RouteMetrics = None  # type: ignore[assignment]  # made from the name when not given
    models: ModelMatcher | None = None  # the body's model must match (None: any request)
    fallbacks: tuple[Fallback, ...] = ()  # tried in order when the answer is in fallback_on
    fallback_on: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.metrics is None:
            object.__setattr__(self, "metrics", RouteMetrics(self.name))

    def matches_context(self, headers: Mapping[str, str], host: str) -> bool:
        if self.hosts is not None and not self.hosts.matches(host):
            return False
        if not self.headers:  # most routes: no generator made per request
            return True
        return all(h.matches(headers) for h in self.headers)

    def upstream_path(self, path: str) -> str:
        """The path sent to the backend: stripped or rewritten when the route says so."""
        if self.kind == "regex" or not (self.strip_prefix or self.rewrite_prefix is not None):
            return path
        prefix = self.path.rstrip("/")
        rest = path[len(prefix) :]
        base = (self.rewrite_prefix or "").rstrip("/")
        joined = base + rest
        return joined if joined.startswith("/") else "/" + joined


@dataclass(frozen=True, slots=True)
class Fallback:
    """Another model on the route's own targets (``upstream`` None), or another target."""

    model: str | None
    upstream: UpstreamGroup | None = None

    @property
    def name(self) -> str:
        """What the access log and the metrics call it: the model, else the target."""
        if self.model:
            return self.model
        return self.upstream.targets[0].url if self.upstream is not None else ""


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: CompiledRoute


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    allowed: frozenset[str]


@dataclass(slots=True, eq=False)
class NeedsModel:
    """A route that matches on the model may take the request: read the model, then
    ``RouteTable.resume`` from that route (the path is not looked up again)."""

    pending: list[CompiledRoute]  # the rest of the group, from the route that asked
    groups: Iterator[list[CompiledRoute]]  # the groups after it
    allowed: set[str]  # the methods of the routes before it (for a 405)


@dataclass(frozen=True, slots=True)
class NoRouteForModel:
    """Only routes that match on the model had the path; none serves this one (None: unknown)."""

    model: str | None


UNREAD = "\x00unread"  # the model argument before the model was read (no model is named this)
Found = RouteMatch | MethodNotAllowed | NeedsModel | NoRouteForModel | None


@dataclass(slots=True)
class RouteTable:
    exact: dict[str, list[CompiledRoute]] = field(default_factory=dict)
    prefix: dict[str, list[CompiledRoute]] = field(default_factory=dict)
    regex: list[CompiledRoute] = field(default_factory=list)
    count: int = 0

    def add(self, route: CompiledRoute) -> None:
        self.count += 1
        if route.kind == "exact":
            self.exact.setdefault(route.path, []).append(route)
        elif route.kind == "prefix":
            key = route.path.rstrip("/") or "/"
            self.prefix.setdefault(key, []).append(route)
        else:
            self.regex.append(route)

    def _candidates(self, path: str) -> Iterator[list[CompiledRoute]]:
        """The routes whose path matches, most specific first; lazily, so that regexes are
        tried only when nothing more specific answered."""
        exact = self.exact.get(path)
        if exact:
            yield exact
        if self.prefix:
            key = path.rstrip("/") or "/"
            while True:
                routes = self.prefix.get(key)
                if routes:
                    yield routes
                if key == "/":
                    break
                key = key[: key.rfind("/")] or "/"
        for route in self.regex:
            if route.regex is not None and route.regex.fullmatch(path):
                yield [route]

    def all_routes(self) -> list[CompiledRoute]:
        routes = [r for group in self.exact.values() for r in group]
        routes += [r for group in self.prefix.values() for r in group]
        return routes + self.regex

    def match(self, path: str, method: str, headers: Mapping[str, str], host: str) -> Found:
        """The route for a request. A route that matches on the model answers NeedsModel
        before the model is read, so only requests that reach such a route pay for reading
        it."""
        return _scan(self._candidates(path), method, headers, host, UNREAD, set())

    def resume(
        self,
        needs: NeedsModel,
        method: str,
        headers: Mapping[str, str],
        host: str,
        model: str | None,
    ) -> Found:
        """Continue ``match`` from the route that needed the model (None: the request names
        none)."""
        groups = itertools.chain((needs.pending,), needs.groups)
        return _scan(groups, method, headers, host, model, needs.allowed)


def _scan(
    groups: Iterator[list[CompiledRoute]],
    method: str,
    headers: Mapping[str, str],
    host: str,
    model: str | None,
    allowed: set[str],
) -> Found:
    wanted_model = False
    for routes in groups:
        for route in routes:
            if not route.matches_context(headers, host):
                continue
            if route.methods is not None and method not in route.methods:
                allowed |= route.methods
                continue
            if route.models is not None:
                if model is UNREAD:
                    return NeedsModel(routes[routes.index(route) :], groups, allowed)
                if model is None or not route.models.matches(model):
                    wanted_model = True
                    continue
            return RouteMatch(route)
    if wanted_model:
        return NoRouteForModel(None if model is UNREAD else model)
    return MethodNotAllowed(frozenset(allowed)) if allowed else None
