"""The backends of a route and how one is picked for a request."""

from __future__ import annotations

import bisect
import hashlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from data_plane.metrics import LEAST_LOADED_FALLBACKS
from data_plane.upstream.health import DEFAULT_OUTLIER_POLICY, OutlierPolicy, TargetHealth
from data_plane.upstream.pool import UpstreamPool

PANIC_THRESHOLD = 0.5  # below this share of healthy targets, spread over all of them
# RFC 3986's characters: a target's URL goes into request lines and Host headers as written.
URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    origin: str  # scheme://host:port: one keep-alive pool each
    base_path: str  # a path in the target URL is prepended to the request path
    weight: int
    priority: int
    scheme: str = "http"
    host: str = ""
    port: int = 80
    host_header: str = ""  # what the backend sees as Host: the URL's authority
    server_name: str = ""  # the name TLS verifies when ``host`` is one of its addresses
    health: TargetHealth = field(default_factory=lambda: TargetHealth(""), compare=False)
    pool: UpstreamPool | None = field(default=None, compare=False, repr=False)  # bound at compile
    model: str | None = None  # the model name the body carries to this target
    # The credential header the gateway adds (name, value), never shown (repr=False).
    auth: tuple[str, str] | None = field(default=None, compare=False, repr=False)
    auth_missing: str = ""  # the environment variable the credential needs and is not set
    context_window: int = 0  # tokens the model takes; a larger prompt skips it (0: any)
    pinned: bool = False  # its address given by --connect-to: never looked up

    @classmethod
    def parse(
        cls, url: str, weight: int, priority: int, health: TargetHealth | None = None
    ) -> Target:
        if not URI_CHARS.fullmatch(url):
            raise ValueError(f"target {url!r} holds a character a URL may not (space, control)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"target '{url}' is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(
            url=url,
            origin=f"{parts.scheme}://{host}:{port}",
            base_path=parts.path.rstrip("/"),
            weight=weight,
            priority=priority,
            scheme=parts.scheme,
            host=host,
            port=port,
            host_header=parts.netloc,
            health=health or TargetHealth(url),
        )

    def connected_to(
        self, address: str, port: int, health_for: Callable[[str], TargetHealth]
    ) -> Target:
        """This target sent to another address and port (``--connect-to``), its Host header
        and TLS name still the URL's."""
        return replace(self.at_address(address, health_for, port), pinned=True)

    def at_address(
        self, address: str, health_for: Callable[[str], TargetHealth], port: int | None = None
    ) -> Target:
        """This hostname target's copy for one of its addresses: its own pool and health
        (``health_for`` gives the state kept for the copy's URL)."""
        host = f"[{address}]" if ":" in address else address
        port = self.port if port is None else port
        origin = f"{self.scheme}://{host}:{port}"
        return replace(
            self,
            url=origin + self.base_path,
            origin=origin,
            host=host,
            port=port,
            server_name=self.host,
            health=health_for(origin + self.base_path),
            pool=None,  # its own origin: bound again
        )


@dataclass(slots=True, eq=False)
class UpstreamGroup:
    """Priority groups of targets and a balancing algorithm within one group.

    Traffic goes to the highest-priority group (lowest number) that has an
    available target; when fewer than half of that group is available it is
    spread over the whole group (panic) rather than crushing the survivors.
    Algorithms: smooth weighted round-robin (nginx's), weighted random,
    least-request (power of two choices over in-flight counts), least-loaded (the
    model servers' own load, ``server_load``; least-request while any candidate's is
    stale) and a consistent hash ring (on a header or the consumer; for least-loaded,
    on the prompt's prefix), all built once per snapshot.
    """

    targets: tuple[Target, ...]
    algorithm: str = "round-robin"
    outlier: OutlierPolicy = DEFAULT_OUTLIER_POLICY
    max_requests: int | None = None  # in flight per target; None: each target's own default
    name: str = ""  # the route's, for the metrics
    prefix_affinity: int = 0  # least-loaded: prompt characters kept on one server (0: off)
    _groups: tuple[tuple[Target, ...], ...] = ()
    _current: dict[int, int] = field(default_factory=dict)
    _rings: dict[int, HashRing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        weighted = [t for t in self.targets if t.weight > 0]
        priorities = sorted({t.priority for t in weighted})
        self._groups = tuple(tuple(t for t in weighted if t.priority == p) for p in priorities)
        if self.algorithm == "consistent-hash" or self.prefix_affinity:
            self._rings = {index: HashRing(group) for index, group in enumerate(self._groups)}

    def pick(self, exclude: frozenset[int] = frozenset(), key: str | None = None) -> Target | None:
        """A target not in ``exclude`` (ids of targets already tried), or None."""
        now = time.monotonic()
        for index, group in enumerate(self._groups):
            candidates = [t for t in group if id(t) not in exclude and not self.saturated(t)]
            if not candidates:
                continue
            available = [t for t in candidates if t.health.available(now)]
            if not available:
                continue
            if len(available) < PANIC_THRESHOLD * len(group):
                available = candidates
            if key is not None and index in self._rings:
                kept = self._rings[index].lookup(key, {id(t) for t in available})
                if self.algorithm != "least-loaded" or kept is None or not self._overloaded(kept):
                    return kept
            return self._choose(available)
        # A target that is only cooling after a 429 still beats no answer at all: its own 429
        # reaches the client. Ejected targets stay out.
        resting = self._eligible(exclude, now)
        return self._choose(resting) if resting else None

    @property
    def top_priority(self) -> int:
        """The priority of the group tried first: an answer from a later one is a failover."""
        return self._groups[0][0].priority if self._groups else 0

    def has_alternative(self, exclude: set[int]) -> bool:
        """Whether ``pick`` would find a target outside ``exclude``, without moving the rotation."""
        return bool(self._eligible(exclude, time.monotonic()))

    def _eligible(self, exclude: frozenset[int] | set[int], now: float) -> list[Target]:
        """Every target that may still take a request: not tried, not ejected, not full."""
        return [
            t
            for group in self._groups
            for t in group
            if id(t) not in exclude and now >= t.health.ejected_until and not self.saturated(t)
        ]

    def saturated(self, target: Target) -> bool:
        """At the route's in-flight limit for the target (its circuit breaker)."""
        limit = self.max_requests
        return target.health.saturated if limit is None else target.health.in_flight >= limit

    def failed(self, target: Target, now: float) -> bool:
        """Count a failure of ``target``; True when it ejected the target.

        One target may always be ejected; beyond that, no more than
        ``max_ejection_percent`` of the route's targets are out at once.
        """
        ejected = sum(1 for t in self.targets if t is not target and t.health.ejected(now))
        allowed = ejected == 0 or (ejected + 1) * 100 <= self.outlier.max_ejection_percent * len(
            self.targets
        )
        return target.health.failed(now, self.outlier, may_eject=allowed)

    def _choose(self, candidates: list[Target]) -> Target:
        if len(candidates) == 1:
            return candidates[0]
        if self.algorithm == "random":
            return random.choices(candidates, weights=[t.weight for t in candidates])[0]
        if self.algorithm == "least-loaded":
            chosen = self._least_loaded(candidates)
            if chosen is not None:
                return chosen
            LEAST_LOADED_FALLBACKS.labels(self.name).inc()
            return self._least_request(candidates)
        if self.algorithm == "least-request":
            return self._least_request(candidates)
        return self._smooth_round_robin(candidates)

    @staticmethod
    def _least_request(candidates: list[Target]) -> Target:
        first, second = random.choices(candidates, weights=[t.weight for t in candidates], k=2)
        return second if second.health.in_flight < first.health.in_flight else first

    def _least_loaded(self, candidates: list[Target]) -> Target | None:
        """The candidate with the lowest score per unit of weight (ties: one at random, so
        idle servers share the traffic), or None when one has no fresh load (then none is
        compared: a silent server is not an idle one)."""
        now = time.monotonic()
        best: list[Target] = []
        best_score = 0.0
        for target in candidates:
            load = target.health.load
            if load is None or not load.fresh(now):
                return None
            score = load.score(target.health.in_flight) / max(1, target.weight)
            if not best or score < best_score - 1e-9:
                best, best_score = [target], score
            elif score <= best_score + 1e-9:
                best.append(target)
        return best[0] if len(best) == 1 else random.choice(best)

    def _overloaded(self, target: Target) -> bool:
        load = target.health.load
        return load is None or not load.fresh(time.monotonic()) or load.overloaded

    def _smooth_round_robin(self, candidates: list[Target]) -> Target:
        current = self._current
        total = 0
        best: Target | None = None
        best_weight = 0
        for target in candidates:
            weight = current.get(id(target), 0) + target.weight
            current[id(target)] = weight
            total += target.weight
            if best is None or weight > best_weight:
                best, best_weight = target, weight
        assert best is not None
        current[id(best)] -= total
        return best


class HashRing:
    """A ring of virtual nodes (100 per unit of weight): a key keeps its target while it is
    available, and adding a target moves only about 1/n of the keys."""

    def __init__(self, targets: tuple[Target, ...], replicas: int = 100) -> None:
        points = sorted(
            (_hash(f"{target.url}#{i}"), target)
            for target in targets
            for i in range(replicas * max(1, target.weight))
        )
        self._points = [p for p, _ in points]
        self._targets = [t for _, t in points]

    def lookup(self, key: str, allowed: set[int]) -> Target | None:
        if not self._points:
            return None
        start = bisect.bisect(self._points, _hash(key))
        for offset in range(len(self._points)):
            target = self._targets[(start + offset) % len(self._points)]
            if id(target) in allowed:
                return target
        return None


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
