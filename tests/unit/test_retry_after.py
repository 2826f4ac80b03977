"""How long a backend's 429 asks to be left alone."""

from __future__ import annotations

import time
from email.utils import formatdate

from data_plane.filters.balancing import retry_after_seconds


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert retry_after_seconds(" 30 ") == 30.0
    in_a_minute = retry_after_seconds(formatdate(time.time() + 60, usegmt=True))
    assert in_a_minute is not None and 58 <= in_a_minute <= 60
    assert retry_after_seconds(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds("-5") is None
