"""The failed-authentication throttle on a fake clock."""

from __future__ import annotations

from data_plane.security.auth_throttle import FailureThrottle
from tests.support.clock import FakeClock


def test_a_burst_of_failures_then_one_per_interval() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(failures=5, period=60, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 12  # the next failure is due in 60/5 s
    assert throttle.retry_after("10.0.0.2") is None  # another address is not affected
    clock.now += 12
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 12
    clock.now += 61
    assert throttle.retry_after("10.0.0.1") is None


def test_the_table_is_capped_and_forgets_quiet_addresses() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(failures=1, period=60, max_addresses=100, clock=clock)
    for index in range(1_000):
        throttle.failed(f"10.0.{index // 256}.{index % 256}")
    assert len(throttle) <= 101
    assert throttle.retry_after("10.0.3.231") is not None  # the most recent ones are kept
    clock.now += 120
    throttle.failed("10.9.9.9")
    assert len(throttle) == 1 and throttle.retry_after("10.9.9.9") is not None
