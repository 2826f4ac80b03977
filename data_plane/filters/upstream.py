"""One try against the target the balancer chose: send the request, wait for the answer's head.

The end of every chain. It answers with an ``UpstreamAnswer``: the backend's
status and headers, its body not yet read, so that the balancer can still
decide to try elsewhere and the handler relays it afterwards. A reused
keep-alive connection the backend had closed as we picked it up is tried once
more on a fresh one (nothing reached the backend).
"""

from __future__ import annotations

from aiohttp import web

from data_plane.filters.body import streamed_chunks
from data_plane.proxy.exchange import Exchange
from data_plane.proxy.headers import downstream_headers, upstream_head
from data_plane.upstream.http1 import Http1Connection, ResetBeforeResponse, write_body
from data_plane.upstream.pool import UpstreamPool
from data_plane.upstream.targets import Target


class UpstreamAnswer(web.StreamResponse):
    """A backend's answer whose body is still on its connection (relayed by the handler)."""

    # aiohttp holds the head back to send it with the first body bytes: a whole answer goes
    # out in one write. The relay sends the head at once for a streamed answer.
    _send_headers_immediately = False

    def __init__(
        self, connection: Http1Connection, pool: UpstreamPool, target: Target, request_id: str
    ) -> None:
        headers = downstream_headers(connection.headers)
        headers["X-Request-Id"] = request_id
        super().__init__(
            status=connection.status, reason=connection.reason or None, headers=headers
        )
        self.connection = connection
        self.pool = pool
        self.target = target

    def discard(self) -> None:
        """Not relayed (the balancer tries elsewhere): keep the connection when it can be."""
        self.pool.release(self.connection)


class Upstream:
    def __init__(self, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes

    async def __call__(self, exchange: Exchange) -> web.StreamResponse:
        target, route = exchange.target, exchange.route
        assert target is not None and target.pool is not None and route is not None
        request = exchange.request
        body = exchange.body
        chunked = body is not None and body.length is None
        data = body.data if body is not None else None
        ai = exchange.ai
        if ai is not None and data is not None:
            fallback = exchange.fallback
            model = fallback.model if fallback is not None and fallback.model else target.model
            data = ai.body_for(model)  # the target's (or fallback's) model name, usage asked for
        head = upstream_head(exchange, target, len(data) if data is not None else None)
        pool = target.pool
        for attempt in (1, 2):
            connection, reused = await pool.acquire(route.timeouts.connect, route.pool_limits)
            connection.begin(head_only=request.method == "HEAD")
            try:
                if body is not None and body.data is None:
                    connection.write(head)
                    await write_body(connection, streamed_chunks(exchange, self._max_body), chunked)
                else:
                    connection.write(head + data if data else head)
                await connection.response_head()
            except ResetBeforeResponse:
                connection.close()
                replayable = body is None or body.replayable
                if attempt == 1 and reused and replayable and not connection.got_bytes:
                    continue  # the backend closed an idle connection as we picked it up
                raise
            except BaseException:
                connection.close()
                raise
            return UpstreamAnswer(connection, pool, target, exchange.request_id)
        raise AssertionError("unreachable")
