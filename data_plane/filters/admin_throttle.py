"""Wrong admin keys, counted per client address, for ``/api/v1`` forwarded to the control plane.

The control plane checks its own key; this filter sees its 401s and, once an
address has sent too many wrong keys, answers 429 here, by the client's own
address, before its next guess reaches the control plane.
"""

from __future__ import annotations

from aiohttp import web

from data_plane.filters import Next
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.security.auth_throttle import AUTH_THROTTLED, FailureThrottle


class AdminKeyThrottle:
    def __init__(self, throttle: FailureThrottle) -> None:
        self._throttle = throttle

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        wait = self._throttle.retry_after(exchange.client_ip)
        if wait is not None:
            return refuse(
                exchange,
                429,
                AUTH_THROTTLED,
                f"too many wrong admin API keys from {exchange.client_ip}; retry after {wait}s",
                {"Retry-After": str(wait)},
            )
        response = await next(exchange)
        if response.status == 401 and "Authorization" in exchange.request.headers:
            self._throttle.failed(exchange.client_ip)  # a wrong admin key: a guess
        return response
