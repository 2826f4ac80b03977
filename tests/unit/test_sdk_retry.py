"""When the SDK retries, and for how long it waits."""

from __future__ import annotations

import time
from email.utils import formatdate

from ai_gateway.retry import RetryPolicy, parse_retry_after


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_two = parse_retry_after(formatdate(time.time() + 2, usegmt=True))
    assert in_two is not None and 0.5 < in_two <= 2.0


def test_which_answers_are_retried() -> None:
    policy = RetryPolicy(max_retries=3)
    assert policy.should_retry(0, 503, idempotent=False)
    assert policy.should_retry(0, 429, idempotent=False)
    assert not policy.should_retry(0, 502, idempotent=False)
    assert policy.should_retry(0, 502, idempotent=True)
    assert policy.should_retry(0, None, idempotent=False)
    assert not policy.should_retry(0, 400, idempotent=True)
    assert not policy.should_retry(3, 503, idempotent=True)


def test_backoff_grows_with_jitter_and_caps() -> None:
    policy = RetryPolicy(base_delay=0.25, max_delay=2.0)
    for attempt, ceiling in [(0, 0.25), (1, 0.5), (2, 1.0), (5, 2.0)]:
        delays = [policy.delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert policy.delay(0, 120.0) == 60.0
