"""GCRA: a burst of N, then one per period/N, and the headers that say so."""

from __future__ import annotations

from data_plane.security.rate_limit import LocalRateLimiter
from tests.support.clock import FakeClock


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock)
    decisions = [limiter.take("k", 5, 60.0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    denied = decisions[-1]
    assert (
        denied.headers()["Retry-After"] == "12" and denied.headers()["X-RateLimit-Remaining"] == "0"
    )
    clock.now += 11.9
    assert not limiter.take("k", 5, 60.0).allowed
    clock.now += 0.2
    assert limiter.take("k", 5, 60.0).allowed, "one request per period/N after the burst"


def test_no_burst_across_a_window_edge() -> None:
    """At most N + (elapsed / interval) in any stretch: no double burst at a boundary."""
    clock = FakeClock()
    limiter = LocalRateLimiter(clock)
    allowed = 0
    for _ in range(600):  # 60 s, one attempt every 0.1 s
        allowed += limiter.take("k", 10, 60.0).allowed
        clock.now += 0.1
    assert allowed <= 10 + 10


def test_keys_are_independent_and_quiet_ones_are_dropped() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock)
    assert limiter.take("a", 1, 1.0).allowed and limiter.take("b", 1, 1.0).allowed
    assert not limiter.take("a", 1, 1.0).allowed
    clock.now += 20
    limiter.take("c", 1, 1.0)
    assert set(limiter._tats) == {"c"}
