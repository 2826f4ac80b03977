"""Passive health (outlier detection) of each backend, with Envoy's defaults.

A target is ejected after 5 consecutive failures (connect errors, resets, 5xx);
it stays out for 30 s x the number of times it was ejected, capped at 300 s,
with 10 % jitter. A route may change these (its ``OutlierPolicy``) and cap
the share of its targets that are out at once. A 429 carrying Retry-After cools the target for that long.
State is kept per target URL across snapshots, so a config change does not
bring an ejected backend straight back.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from data_plane.upstream.server_load import ServerLoad

CONSECUTIVE_FAILURES = 5
BASE_EJECTION = 30.0
MAX_EJECTION = 300.0


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    """When a route ejects a target; the counters are the target's, shared by every route."""

    consecutive_failures: int = CONSECUTIVE_FAILURES
    base_ejection: float = BASE_EJECTION
    max_ejection: float = MAX_EJECTION
    max_ejection_percent: int = 100


DEFAULT_OUTLIER_POLICY = OutlierPolicy()


@dataclass(slots=True)
class TargetHealth:
    url: str
    max_in_flight: int = 1024  # the circuit breaker's default: no more requests beyond this
    consecutive_failures: int = 0
    times_ejected: int = 0
    ejected_until: float = 0.0
    cooled_until: float = 0.0
    in_flight: int = 0
    failing_checks: bool = False  # set by active health checks
    load: ServerLoad | None = None  # what the server last said of its load (least-loaded)

    def available(self, now: float) -> bool:
        """Neither ejected nor cooling: a target to prefer."""
        return now >= self.ejected_until and now >= self.cooled_until and not self.failing_checks

    @property
    def saturated(self) -> bool:
        return self.in_flight >= self.max_in_flight

    def started(self) -> None:
        """A request went to the target (a try, or the relay of its answer)."""
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1

    def succeeded(self) -> None:
        self.consecutive_failures = 0

    def failed(
        self, now: float, policy: OutlierPolicy = DEFAULT_OUTLIER_POLICY, *, may_eject: bool = True
    ) -> bool:
        """Count a failure; True when it ejected the target.

        ``may_eject`` is False when the route already has its maximum share of
        targets out: the failure still counts, the ejection waits.
        """
        self.consecutive_failures += 1
        if (
            self.consecutive_failures < policy.consecutive_failures
            or now < self.ejected_until
            or not may_eject
        ):
            return False
        self.times_ejected += 1
        duration = min(policy.max_ejection, policy.base_ejection * self.times_ejected)
        self.ejected_until = now + duration * random.uniform(0.9, 1.1)  # jitter, not secrecy
        self.consecutive_failures = 0
        return True

    def checks_failing(self, failing: bool) -> bool:
        """Record what the active health checks say; True when that changed the target's state."""
        changed = failing != self.failing_checks
        self.failing_checks = failing
        return changed

    def ejected(self, now: float) -> bool:
        return now < self.ejected_until

    def cool(self, now: float, seconds: float) -> None:
        self.cooled_until = max(self.cooled_until, now + min(seconds, MAX_EJECTION))

    def state(self, now: float) -> str:
        if now < self.ejected_until:
            return "ejected"
        if self.failing_checks:
            return "failing-checks"
        if self.saturated:
            return "saturated"
        return "cooling" if now < self.cooled_until else "healthy"


@dataclass
class HealthRegistry:
    """One TargetHealth per target URL, shared by every route that uses the URL."""

    base_ejection: float = BASE_EJECTION  # --ejection-seconds: for routes that set none
    max_in_flight: int = 1024
    _by_url: dict[str, TargetHealth] = field(default_factory=dict)

    def for_url(self, url: str) -> TargetHealth:
        health = self._by_url.get(url)
        if health is None:
            health = self._by_url[url] = TargetHealth(url, self.max_in_flight)
        return health

    def retain(self, urls: set[str]) -> None:
        """Forget targets no route uses any more (an address a hostname no longer resolves
        to, a backend taken out of the config): state, metrics and reports stay bounded."""
        known = list(self._by_url)  # one copy under the GIL: a compile thread may add meanwhile
        for url in [u for u in known if u not in urls]:
            del self._by_url[url]

    def snapshot(self) -> list[dict[str, object]]:
        now = time.monotonic()
        return [
            {
                "target": h.url,
                "state": h.state(now),
                "consecutiveFailures": h.consecutive_failures,
                "timesEjected": h.times_ejected,
                "inFlight": h.in_flight,
                **({"load": _load_state(h.load, now)} if h.load is not None else {}),
            }
            for h in self._by_url.values()
        ]


def _load_state(load: ServerLoad, now: float) -> dict[str, object]:
    """What the server last said of its load, and how long ago (``/readyz``)."""
    return {
        "waiting": load.waiting,
        "running": load.running,
        "kvCache": round(load.kv_cache, 4),
        "ageSeconds": round(now - load.scraped_at, 3),
        # Stale: older than three scrape intervals; least-loaded then balances by
        # least-request.
        "stale": not load.fresh(now),
    }
