"""Failed authentication throttled per client address: a key cannot be guessed at line rate.

GCRA over failures only: an address may fail ``failures`` times at once, then once
every ``period / failures``; beyond that its attempts get 429 with Retry-After before
any key is compared, so a guess during the pause learns nothing. Successes cost
nothing. Addresses that stopped failing are dropped, and the table is capped, so a
flood of addresses cannot grow memory (the cap drops the oldest entries first).
Used by the control plane's admin API and by the data plane for ``/api/v1``
forwarded to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

AUTH_THROTTLED = "too_many_auth_failures"  # the error code of the 429


class FailureThrottle:
    def __init__(
        self,
        failures: int = 10,
        period: float = 60.0,
        *,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = period / failures
        self._period = period
        self._tats: dict[str, float] = {}  # address -> theoretical arrival time of failures
        self._max = max_addresses
        self._clock = clock
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._tats)

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again; None when it may now."""
        tat = self._tats.get(address)
        if tat is None:
            return None
        wait = tat - self._clock() - (self._period - self._interval)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, address: str) -> None:
        now = self._clock()
        self._tats[address] = max(self._tats.get(address, now), now) + self._interval
        if now >= self._next_sweep or len(self._tats) > self._max:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        live = {a: t for a, t in self._tats.items() if t > now}
        if len(live) > self._max:  # a flood of addresses: keep the most recent failures
            keep = self._max * 9 // 10  # a margin, so that the next sweep is not at once
            live = dict(sorted(live.items(), key=lambda item: item[1])[-keep:])
        self._tats = live
        self._next_sweep = now + 10.0
