"""GCRA rate limiting in this process (the default store).

GCRA keeps one number per key, the theoretical arrival time (TAT): a limit of
N per period allows a burst of N and then one request every period/N; there
is no window edge to burst across. Keys that went quiet are dropped once
their TAT has passed, so memory follows the active callers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the full limit is available again
    retry_after: float  # 0 when allowed

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers, and OpenAI's names for the same (which its SDKs and
        tools read: ``x-ratelimit-*-requests``, the reset as a duration like ``6s``)."""
        reset = math.ceil(self.reset_seconds)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(reset),
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": format_reset(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers


def gcra(tat: float, now: float, requests: int, period: float) -> tuple[float | None, RateDecision]:
    """One GCRA step: (the new TAT, or None when denied; the decision)."""
    interval = period / requests
    start = max(tat, now)
    new_tat = start + interval
    if new_tat - now > period + 1e-9:
        retry = new_tat - now - period
        return None, RateDecision(False, requests, 0, start - now, retry)
    remaining = int((period - (new_tat - now)) / interval + 1e-9)
    return new_tat, RateDecision(True, requests, remaining, new_tat - now, 0.0)


class LocalRateLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = 1_000_000
    ) -> None:
        self._tats: dict[str, float] = {}
        self._clock = clock
        self._max_keys = max_keys
        self._next_sweep = 0.0

    async def hit(self, key: str, requests: int, period: float) -> RateDecision:
        return self.take(key, requests, period)

    def take(self, key: str, requests: int, period: float) -> RateDecision:
        now = self._clock()
        new_tat, decision = gcra(self._tats.get(key, now), now, requests, period)
        if new_tat is not None:
            self._tats[key] = new_tat
        if now >= self._next_sweep or len(self._tats) > self._max_keys:
            self._sweep(now)
        return decision

    def _sweep(self, now: float) -> None:
        self._tats = {k: t for k, t in self._tats.items() if t > now}
        self._next_sweep = now + 10.0


class RateLimiter(Protocol):
    """Where counts live: this process (LocalRateLimiter) or Redis (RedisRateLimiter)."""

    async def hit(self, key: str, requests: int, period: float) -> RateDecision:
        """Count one request against the key; the decision and the headers to send."""


def format_reset(seconds: float) -> str:
    """A duration as OpenAI's ``x-ratelimit-reset-*`` headers write it: ``250ms``, ``6s``,
    ``1m30s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
