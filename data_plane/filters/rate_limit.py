"""How often: the endpoint's rate limit, per consumer (per client address when anonymous).

Runs after authentication, so the count is the consumer's. The key carries
every part of its scope (cluster, endpoint, caller): clusters sharing one
Redis never share a count. Answers carry the X-RateLimit-* headers; a refusal
is 429 with Retry-After.
"""

from __future__ import annotations

from aiohttp import web

from data_plane.filters import Next
from data_plane.metrics import RATE_LIMITED
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.security.rate_limit import RateLimiter


class RateLimit:
    def __init__(
        self, limiter: RateLimiter, cluster: str, endpoint: str, requests: int, period: float
    ) -> None:
        self._limiter = limiter
        # No part holds the separator: names and endpoints are checked, claims are header-safe.
        self._prefix = f"{cluster}\x1f{endpoint}\x1f"
        self._endpoint = endpoint
        self._requests = requests
        self._period = period
        self._refused = RATE_LIMITED.labels(endpoint)

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        who = f"consumer:{exchange.consumer}" if exchange.consumer else f"ip:{exchange.client_ip}"
        decision = await self._limiter.hit(self._prefix + who, self._requests, self._period)
        headers = decision.headers()
        if not decision.allowed:
            self._refused.inc()
            return refuse(
                exchange,
                429,
                "rate_limit_exceeded",
                f"rate limit of {self._requests} per {self._period:g}s exceeded for "
                f"{self._endpoint}; retry after {headers['Retry-After']}s",
                headers,
            )
        response = await next(exchange)
        response.headers.update(headers)
        return response
