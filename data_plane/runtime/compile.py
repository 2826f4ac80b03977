"""Compile a snapshot once, before it serves: a snapshot that cannot compile is NACKed.

The control plane validates everything already; this is the second line
(a newer control plane, a corrupted cache file), and it turns the snapshot
into lookups so the request path never parses or validates anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from data_plane.ai.catalog import ModelCatalog, ServedModel
from data_plane.ai.model_list import ModelList
from data_plane.ai.model_match import ModelMatcher, check_model_pattern
from data_plane.ai.model_request import valid_model_name
from data_plane.ai.prices import Price, PriceTable
from data_plane.ai.shapes import may_carry_ai
from data_plane.errors import SnapshotRejected
from data_plane.filters.fallback import CONDITIONS as FALLBACK_CONDITIONS
from data_plane.metrics import RouteMetrics
from data_plane.runtime.chains import ChainBuilder, ProcessFilters
from data_plane.runtime.config import DataPlaneSettings, RuntimeConfig
from data_plane.runtime.matchers import HeaderKind, HeaderMatcher, HostMatcher
from data_plane.runtime.regex import LinearRegex, compile_regex
from data_plane.runtime.routes import (
    CompiledRoute,
    Fallback,
    PathKind,
    RouteRetries,
    RouteTable,
    RouteTimeouts,
)
from data_plane.security.jwks import JwksFetcher
from data_plane.security.rate_limit import LocalRateLimiter, RateLimiter
from data_plane.security.scoped_limits import ScopedLimits
from data_plane.security.snapshot_security import SnapshotSecurity
from data_plane.security.token_ledger import LocalTokenLedger, SettlingLedger
from data_plane.upstream.check_plan import CheckPlan
from data_plane.upstream.credentials import resolve_credential
from data_plane.upstream.health import (
    CONSECUTIVE_FAILURES,
    HealthRegistry,
    OutlierPolicy,
)
from data_plane.upstream.load_scraper import LoadPlan
from data_plane.upstream.pool import DEFAULT_LIMITS, PoolLimits
from data_plane.upstream.pools import UpstreamPools
from data_plane.upstream.resolver import AddressBook, is_ip_literal
from data_plane.upstream.targets import URI_CHARS, Target, UpstreamGroup
from protos import snapshot_pb2 as pb

# What an incremental compile does not compare: the routes (it compares them by id), and
# what every snapshot has anew.
_NOT_COMPARED = frozenset({"routes", "version", "revision"})
_PATH_KINDS: dict[int, PathKind] = {
    pb.PathMatch.PREFIX: "prefix",
    pb.PathMatch.EXACT: "exact",
    pb.PathMatch.REGEX: "regex",
}
_HEADER_KINDS: dict[int, HeaderKind] = {
    pb.HeaderMatch.EXACT: "exact",
    pb.HeaderMatch.REGEX: "regex",
    pb.HeaderMatch.PRESENT: "present",
}


def _regex(pattern: str, where: str) -> LinearRegex:
    try:
        return compile_regex(pattern)
    except ValueError as exc:
        raise SnapshotRejected(f"{where}: invalid regex {pattern!r}: {exc}") from None


def _request_path(path: str, where: str) -> str:
    """A path the gateway writes into a request line (a prefix, a rewrite, a health check)."""
    if not path.startswith("/") or not URI_CHARS.fullmatch(path) or "?" in path or "#" in path:
        raise SnapshotRejected(f"{where}: {path!r} is not a plain URL path")
    return path


def _header(header: pb.HeaderMatch, where: str) -> HeaderMatcher:
    kind = _HEADER_KINDS.get(header.kind)
    if kind is None or not header.name:
        raise SnapshotRejected(f"{where}: unknown header match")
    pattern = _regex(header.value, where) if kind == "regex" else None
    return HeaderMatcher(header.name.lower(), kind, header.value, pattern, header.invert)


def _check_plan(check: pb.HealthCheck, where: str) -> CheckPlan:
    return CheckPlan(
        path=_request_path(check.path, f"{where}: healthCheck.path"),
        interval=check.interval_seconds or 10.0,
        timeout=check.timeout_seconds or 2.0,
        healthy_threshold=check.healthy_threshold or 2,
        unhealthy_threshold=check.unhealthy_threshold or 3,
        expected=frozenset(check.expected_statuses) or frozenset({200}),
    )


def _outlier_policy(outlier: pb.OutlierDetection, registry: HealthRegistry) -> OutlierPolicy:
    base = outlier.base_ejection_seconds or registry.base_ejection
    return OutlierPolicy(
        consecutive_failures=outlier.consecutive_failures or CONSECUTIVE_FAILURES,
        base_ejection=base,
        max_ejection=max(base, outlier.max_ejection_seconds or 10 * base),
        max_ejection_percent=outlier.max_ejection_percent or 100,
    )


def _pool_limits(breaker: pb.CircuitBreaker) -> PoolLimits:
    return PoolLimits(
        max_connections=breaker.max_connections or DEFAULT_LIMITS.max_connections,
        max_pending=breaker.max_pending_requests
        if breaker.HasField("max_pending_requests")
        else DEFAULT_LIMITS.max_pending,
    )


@dataclass
class CompileContext:
    """What outlives snapshots and every compile uses: rate-limit and token counts, backend health, the
    last DNS answers, JWKS key caches, connection pools and the filters every route shares.
    Fresh ones when not given (a test's compile)."""

    limiter: RateLimiter = field(default_factory=LocalRateLimiter)
    ledger: SettlingLedger = field(default_factory=LocalTokenLedger)  # token limits, budgets
    health: HealthRegistry = field(default_factory=HealthRegistry)
    addresses: AddressBook | None = None
    jwks: JwksFetcher | None = None
    pools: UpstreamPools = field(default_factory=UpstreamPools)
    filters: ProcessFilters = field(default_factory=ProcessFilters)
    sidecar_app: str | None = None  # sidecar mode: every route's one target (--sidecar-app)
    # --connect-to: (host, port) of a target URL -> the (address, port) connected to instead
    connect_to: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)


def _targets(
    configured_targets: Iterable[pb.Target], context: CompileContext, where: str
) -> tuple[Target, ...]:
    """One target per configured URL, or per address of a hostname that has been resolved,
    each with its health and its connection pool bound."""
    registry, addresses, pools = context.health, context.addresses, context.pools
    targets: list[Target] = []
    if context.sidecar_app is not None:  # the pod's own app, with the first target's model
        configured_targets = [_in_sidecar(t, context.sidecar_app) for t in configured_targets][:1]
    for configured in configured_targets:
        target = Target.parse(configured.url, configured.weight or 1, configured.priority)
        if configured.context_window:
            target = replace(target, context_window=configured.context_window)
        if configured.model:
            if valid_model_name(configured.model) is None:
                raise SnapshotRejected(
                    f"{where}: target model {configured.model[:64]!r} is invalid"
                )
            target = replace(target, model=configured.model)
        if configured.HasField("auth") and configured.auth.header:
            auth, missing = resolve_credential(configured.auth, f"{where}: {configured.url}")
            target = replace(target, auth=auth, auth_missing=missing)
        pinned = context.connect_to.get((target.host.lower(), target.port))
        if pinned is not None:
            targets.append(target.connected_to(*pinned, registry.for_url))
            continue
        resolved = None
        if addresses is not None and not is_ip_literal(target.host):
            resolved = addresses.addresses(target.host)
        if resolved:
            targets.extend(target.at_address(address, registry.for_url) for address in resolved)
        else:
            targets.append(replace(target, health=registry.for_url(target.url)))
    return tuple(replace(t, pool=pools.for_target(t)) for t in targets)


def _in_sidecar(configured: pb.Target, app: str) -> pb.Target:
    target = pb.Target()
    target.CopyFrom(configured)
    target.url, target.weight, target.priority = app.rstrip("/"), 1, 0
    return target


def targets_in_use(routes: Iterable[CompiledRoute]) -> list[Target]:
    """Every target the routes may send to: their own and their fallbacks'. What keeps a
    target's health and connection pool (a route an incremental update reused asks for
    neither again)."""
    routes = list(routes)
    groups = [r.upstream for r in routes]
    groups += [f.upstream for r in routes for f in r.fallbacks if f.upstream is not None]
    return [t for group in groups for t in group.targets]


def hostnames(table: RouteTable) -> frozenset[str]:
    """The target hosts that are names, not addresses: what the resolver looks up (a resolved
    target keeps its name as ``server_name``)."""
    targets = targets_in_use(table.all_routes())
    hosts = {t.server_name or t.host for t in targets if not t.pinned}
    return frozenset(h for h in hosts if not is_ip_literal(h))


def compile_route(
    route: pb.Route, context: CompileContext | None = None, chains: ChainBuilder | None = None
) -> CompiledRoute:
    """``chains`` composes the route's filters (none: a route under no security policy)."""
    context = context or CompileContext()
    where = f"route {route.name or route.id}"
    kind = _PATH_KINDS.get(route.path.kind)
    if kind is None:
        raise SnapshotRejected(f"{where}: unknown path match kind {route.path.kind}")
    if kind != "regex":
        _request_path(route.path.value, f"{where}: path")
    if not route.targets:
        raise SnapshotRejected(f"{where}: no targets")
    try:
        targets = _targets(route.targets, context, where)
        fallbacks = tuple(_fallback(f, context, where) for f in route.fallbacks)
    except ValueError as exc:
        raise SnapshotRejected(f"{where}: {exc}") from None
    if all(t.weight == 0 for t in targets):
        raise SnapshotRejected(f"{where}: every target has weight 0")
    timeouts = route.timeouts
    chains = chains or _unsecured_chains(context)
    load_plan = _load_plan(route, where)
    return CompiledRoute(
        id=route.id,
        name=route.name,
        kind=kind,
        path=route.path.value,
        methods=frozenset(m.upper() for m in route.methods) or None,
        headers=tuple(_header(h, where) for h in route.headers),
        hosts=HostMatcher.of(list(route.hosts)),
        upstream=UpstreamGroup(
            targets,
            algorithm=route.load_balancer or "round-robin",
            outlier=_outlier_policy(route.outlier_detection, context.health),
            max_requests=route.circuit_breaker.max_requests or None,
            name=route.name,
            prefix_affinity=route.least_loaded.prefix_affinity if load_plan else 0,
        ),
        load_plan=load_plan,
        pool_limits=_pool_limits(route.circuit_breaker),
        hash_on=route.hash_on.lower() or None,
        health_check=_check_plan(route.health_check, where)
        if route.HasField("health_check") and route.health_check.path
        else None,
        timeouts=RouteTimeouts(
            connect=timeouts.connect_seconds or 5.0,
            first_byte=timeouts.first_byte_seconds or 120.0,
            idle=timeouts.idle_seconds or 120.0,
            total=timeouts.total_seconds or None,
        ),
        strip_prefix=route.strip_prefix,
        rewrite_prefix=_request_path(route.rewrite_prefix, f"{where}: rewritePrefix")
        if route.rewrite_prefix
        else None,
        regex=_regex(route.path.value, where) if kind == "regex" else None,
        retries=RouteRetries(
            attempts=route.retry.attempts or 2,
            on_statuses=frozenset(route.retry.on_statuses)
            if route.retry.on_statuses
            else frozenset({502, 503, 504}),
            per_try_timeout=route.retry.per_try_timeout_seconds or None,
        ),
        chain=chains.for_route(kind, route.path.value),
        ai_chain=chains.for_route(kind, route.path.value, ai=True, fallbacks=bool(fallbacks))
        if may_carry_ai(kind, route.path.value)
        else None,
        metrics=RouteMetrics(route.name),
        models=_models(route, where),
        fallbacks=fallbacks,
        fallback_on=frozenset(route.fallback_on or FALLBACK_CONDITIONS),
    )


def _load_plan(route: pb.Route, where: str) -> LoadPlan | None:
    if route.load_balancer != "least-loaded":
        return None
    least = route.least_loaded
    interval = least.scrape_interval_seconds or 1.0
    if not 0.1 <= interval <= 60:
        raise SnapshotRejected(f"{where}: leastLoaded.scrapeInterval {interval} is not 0.1-60")
    path = _request_path(least.metrics_path or "/metrics", f"{where}: leastLoaded.metricsPath")
    return LoadPlan(path, interval)


def _fallback(fallback: pb.Fallback, context: CompileContext, where: str) -> Fallback:
    model = fallback.model or None
    if model is not None and valid_model_name(model) is None:
        raise SnapshotRejected(f"{where}: fallback model {model[:64]!r} is invalid")
    if not fallback.HasField("target"):
        return Fallback(model)
    targets = _targets([fallback.target], context, f"{where}: fallback")
    return Fallback(model or fallback.target.model or None, UpstreamGroup(targets))


def _models(route: pb.Route, where: str) -> ModelMatcher | None:
    if not route.models:
        return None
    try:
        return ModelMatcher(tuple(check_model_pattern(m) for m in route.models))
    except ValueError as exc:
        raise SnapshotRejected(f"{where}: models: {exc}") from None


def _catalog(snapshot: pb.Snapshot) -> ModelCatalog:
    """The snapshot's models: the exact names of routes' ``models:`` (what ``/v1/models``
    lists), the targets' model names and the priced ones (the metrics' label values)."""
    served = [
        ServedModel(name, route.name, route.path.value)
        for route in snapshot.routes
        for name in route.models
        if "*" not in name
    ]
    target_models = {t.model for r in snapshot.routes for t in r.targets if t.model}
    prices = PriceTable(
        {
            model: Price(
                price.input,
                price.output,
                price.cached_input if price.HasField("cached_input") else None,
            )
            for model, price in snapshot.prices.items()
        }
    )
    return ModelCatalog.of(served, target_models, prices, int(time.time()))


def _unsecured_chains(context: CompileContext) -> ChainBuilder:
    return ChainBuilder(SnapshotSecurity(), context.limiter, context.filters)


@dataclass(frozen=True, slots=True)
class ChangedRoutes:
    """What an incremental update touched: the version it was applied to, and the routes it
    added, changed or removed (by id)."""

    base_version: str
    ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Increment:
    """An incremental update: the config it changes and the routes it added, changed or
    removed (by id)."""

    previous: RuntimeConfig
    changed_routes: frozenset[str]


def compile_snapshot(
    snapshot: pb.Snapshot, context: CompileContext | None = None, increment: Increment | None = None
) -> RuntimeConfig:
    """The snapshot as the objects the request path reads; SnapshotRejected (the NACK's
    reason) when any part of it cannot serve.

    With an ``increment`` whose changes are to routes only, the routes it did not touch keep
    their compiled objects (and their balancers' state), so the compile costs what changed:
    the security, the chains and the model catalog stay the previous config's."""
    started = time.monotonic()
    context = context or CompileContext()
    if not snapshot.version:
        raise SnapshotRejected("snapshot has no version")
    generation = context.addresses.generation if context.addresses is not None else 0
    reusable = _reusable(increment, snapshot, generation) if increment is not None else None
    if increment is not None and reusable is not None:
        chains, model_list = reusable
        changed = increment.changed_routes
        kept = {r.id: r for r in increment.previous.routes.all_routes() if r.id not in changed}
    else:
        catalog = _catalog(snapshot)
        try:
            security = SnapshotSecurity.compile(snapshot, context.jwks)
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotRejected(f"security: {exc}") from None
        limits = ScopedLimits.compile(snapshot)
        chains = ChainBuilder(
            security, context.limiter, context.filters, catalog, context.ledger, limits
        )
        kept, model_list = {}, ModelList(catalog, security)
    table = RouteTable()
    for route in snapshot.routes:
        compiled = kept.get(route.id)
        table.add(compiled if compiled is not None else compile_route(route, context, chains))
    return RuntimeConfig(
        cluster=snapshot.cluster,
        version=snapshot.version,
        revision=snapshot.revision,
        routes=table,
        settings=DataPlaneSettings(
            log_level=snapshot.settings.log_level or "info",
            callback_url=snapshot.settings.callback_url,
        ),
        source=snapshot,
        hostnames=hostnames(table),
        compiled_since=started,
        model_list=model_list,
        chains=chains,
        addresses_generation=generation,
    )


_BESIDE_ROUTES = [f.name for f in pb.Snapshot.DESCRIPTOR.fields if f.name not in _NOT_COMPARED]


def _reusable(
    increment: Increment, snapshot: pb.Snapshot, generation: int
) -> tuple[ChainBuilder, ModelList] | None:
    """The previous config's chains and model list, when only routes changed and in ways
    that leave every other route's compile as it was: the same security, settings, prices
    and limits, the same DNS answers, and no changed route that names a model (those make
    the model catalog the chains read)."""
    previous = increment.previous
    if previous.chains is None or previous.model_list is None:
        return None
    if previous.addresses_generation != generation:
        return None
    before = previous.source
    if any(getattr(before, name) != getattr(snapshot, name) for name in _BESIDE_ROUTES):
        return None
    changed = increment.changed_routes
    if any(_names_models(r) for r in previous.routes.all_routes() if r.id in changed):
        return None
    if any(_asks_models(r) for r in snapshot.routes if r.id in changed):
        return None
    return previous.chains, previous.model_list


def _asks_models(route: pb.Route) -> bool:
    return bool(route.models) or any(t.model for t in route.targets)


def _names_models(route: CompiledRoute) -> bool:
    return route.models is not None or any(t.model for t in route.upstream.targets)
