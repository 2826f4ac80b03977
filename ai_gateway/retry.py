"""When and how long to wait before trying a call again."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A POST that got 502/504 may have been carried out; only these prove it was not.
NOT_PROCESSED_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def should_retry(self, attempt: int, status: int | None, idempotent: bool) -> bool:
        """``status`` None means no answer came (connection refused, reset, timeout)."""
        if attempt >= self.max_retries:
            return False
        if status is None:
            return True
        return status in (RETRY_STATUSES if idempotent else NOT_PROCESSED_STATUSES)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)
