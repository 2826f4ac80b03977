"""Rate limits shared by every data-plane replica through Redis: one atomic Lua GCRA step per request.

Redis's own clock (TIME) is used, so replicas with skewed clocks still count
as one. A slow or absent Redis must not stall traffic: each call has a short
timeout (50 ms by default); on failure the decision falls back to this
process's local limiter (fail-open, the default) or refuses (fail-closed),
and Redis is tried again after a short pause.
"""

from __future__ import annotations

import logging

from data_plane.security.rate_limit import LocalRateLimiter, RateDecision
from data_plane.security.redis_scripts import RedisUse

log = logging.getLogger("ai_gateway.data_plane.rate_limit")


# KEYS[1]: the counter; ARGV: interval and period in microseconds. Returns {allowed, tat - now, retry}.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, tat - now, new_tat - now - period}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, new_tat - now, 0}
"""


PREFIX = "aigw:rl:"
TIMEOUT = 0.05  # a request waits at most this for its rate limit


class RedisRateLimiter:
    def __init__(self, redis: RedisUse, fallback: LocalRateLimiter) -> None:
        """``redis``: with this limiter's timeout (TIMEOUT)."""
        self._redis = redis
        self._fallback = fallback
        self._prefix = PREFIX

    @property
    def healthy(self) -> bool:
        return self._redis.healthy

    async def hit(self, key: str, requests: int, period: float) -> RateDecision:
        redis = self._redis
        if redis.available:
            reply = await redis.run(
                GCRA_SCRIPT, [self._prefix + key], [int(period / requests * 1e6), int(period * 1e6)]
            )
            if reply is not None:
                allowed, until_full, retry = reply
                return _decision(bool(allowed), requests, period, until_full / 1e6, retry / 1e6)
        if redis.failure == "closed":
            return RateDecision(False, requests, 0, period, redis.pause)
        return self._fallback.take(key, requests, period)


def _decision(
    allowed: bool, requests: int, period: float, until_full: float, retry: float
) -> RateDecision:
    interval = period / requests
    remaining = int((period - until_full) / interval + 1e-9) if allowed else 0
    return RateDecision(allowed, requests, max(0, remaining), until_full, retry)
