"""The client's request body: how big it may be, and whether it is read first or streamed.

Small bodies with a known length (up to 1 MiB) are read first: cheap, and they
can be sent again to another target when a try fails. Anything larger or
chunked is streamed to the backend once, with a running size check, and is
never retried. A body over ``--max-body-bytes`` gets 413.

A client that sent ``Expect: 100-continue`` waits for a ``100 Continue`` before
its body; it gets one here, after authentication and the rate limit let the
request in (so a refused client never sends its body).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from data_plane.errors import DataPlaneError
from data_plane.filters import Next
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange, RequestBody

READ_FIRST_LIMIT = 1 << 20  # bodies up to this size (with Content-Length) are read whole
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BodyTooLarge(DataPlaneError):
    pass


class BodyPolicy:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        request = exchange.request
        length = request.content_length
        if length is not None and length > self.max_bytes:
            return self.too_large(exchange)
        if exchange.body is not None or not request.body_exists:
            return await next(exchange)  # read already (to route on its model), or none
        if not await read_whole(exchange):
            await _continue(exchange)
            exchange.body = RequestBody(None, length)
        return await next(exchange)

    def too_large(self, exchange: Exchange) -> web.Response:
        return refuse(
            exchange,
            413,
            "request_too_large",
            f"the request body is over the limit of {self.max_bytes} bytes",
        )


async def read_whole(exchange: Exchange) -> bool:
    """Read a small body with a length whole, onto the exchange; False when it is not one
    (none, chunked, or over READ_FIRST_LIMIT: it will be streamed)."""
    request = exchange.request
    length = request.content_length
    if not request.body_exists or length is None or length > READ_FIRST_LIMIT:
        return False
    await _continue(exchange)
    data = await request.read()
    exchange.body = RequestBody(data, length, seen=len(data))
    return True


async def _continue(exchange: Exchange) -> None:
    request = exchange.request
    if request.headers.get("Expect", "").lower() == "100-continue" and request.writer is not None:
        await request.writer.write(_CONTINUE)


async def streamed_chunks(exchange: Exchange, limit: int) -> AsyncIterator[bytes]:
    """The client's body as it arrives, counted; BodyTooLarge past ``limit``."""
    body = exchange.body
    assert body is not None
    async for chunk in exchange.request.content.iter_any():
        body.seen += len(chunk)
        if body.seen > limit:
            body.exceeded = True
            raise BodyTooLarge
        yield chunk
