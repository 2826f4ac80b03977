"""One HTTP/1.1 connection to a backend, as an explicit state machine, for the proxy's upstream half.

Why not aiohttp's ClientSession: profiling the proxy (bench/PROFILE.md) put
about half of its CPU in the general-purpose client (request objects,
payload registry, auto headers, connector bookkeeping). A proxy already has
the method, path and headers in hand; it needs to write them, parse the
answer (llhttp, through httptools) and hand body chunks on as they come.

The states, as httpcore's ``ConnectionState`` draws them::

    IDLE ──send──► ACTIVE ──head──► BODY ──end──► IDLE (kept alive)
      │              │               │      └────► CLOSED (not reusable)
      └──────────────┴───────────────┴──lost/close──► CLOSED

One llhttp parser serves the connection's whole life, but for one case: the
answer to a HEAD has no body whatever its headers say, and httptools cannot
tell llhttp so (its headers callback cannot return "skip the body"); after a
HEAD answer the connection gets a fresh parser. A body without a length that
ends when the backend closes (HTTP/1.0, or ``Connection: close`` with no
``Content-Length``) is complete at a clean close, not a reset: llhttp would
say so on ``finish``, which httptools does not expose.

A body is handed on chunk by chunk with back-pressure: reading from the
backend pauses when the client is slower than it.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import AsyncIterator, Callable
from typing import cast

import httptools

from data_plane.errors import DataPlaneError

_HIGH_WATER = 1 << 20  # bytes buffered from the backend before reading from it pauses
_LOW_WATER = 256 << 10
_NO_BODY_STATUSES = frozenset({204, 304})


def _header_text(raw: bytes) -> str:
    """A header value as text that aiohttp writes back byte for byte (it encodes UTF-8):
    UTF-8 (what non-ASCII values are in practice) exactly; anything else as Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class UpstreamError(DataPlaneError):
    """The backend gave no usable answer."""


class ConnectFailed(UpstreamError):
    pass


class ResetBeforeResponse(UpstreamError):
    """The connection ended before a status line: the request may be retried elsewhere."""


class ResetMidResponse(UpstreamError):
    pass


class ConnectionState(enum.Enum):
    IDLE = "idle"  # no exchange: fresh, or kept alive after a complete one
    ACTIVE = "active"  # a request is being sent; no response head yet
    BODY = "body"  # the response head arrived; its body is arriving
    CLOSED = "closed"


class _Framing(enum.Enum):
    LENGTH_OR_CHUNKED = "llhttp"  # llhttp says when the body ends
    NONE = "none"  # HEAD, 1xx, 204, 304: no body at all
    UNTIL_CLOSE = "until-close"  # no length: the body ends with the connection


class Http1Connection(asyncio.Protocol):
    """One connection to a backend; serves one exchange at a time."""

    def __init__(self, on_lost: Callable[[], None] | None = None) -> None:
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.state = ConnectionState.IDLE
        self.idle_since = time.monotonic()
        self._writable: asyncio.Future[None] | None = None
        self._new_exchange(head_only=False)

    def _new_exchange(self, head_only: bool) -> None:
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self._head_only = head_only
        self._framing = _Framing.LENGTH_OR_CHUNKED
        self._headers_ready: asyncio.Future[None] = self._loop.create_future()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._error: UpstreamError | None = None
        self._paused = False
        self._got_bytes = False
        self.reusable = False

    # -- the exchange, as the proxy drives it -------------------------------------

    def begin(self, head_only: bool = False) -> None:
        """Start an exchange on an idle connection; ``head_only``: the request is a HEAD."""
        assert self.state is ConnectionState.IDLE, self.state
        if self._complete or self._got_bytes:  # a previous exchange ran on this one
            if self._head_only:  # its parser still expects that HEAD answer's body
                self._parser = httptools.HttpResponseParser(self)
            self._new_exchange(head_only)
        else:
            self._head_only = head_only
        self.state = ConnectionState.ACTIVE

    def write(self, data: bytes) -> None:
        """Send request bytes; the first write on an idle connection begins an exchange."""
        assert self.transport is not None
        if self.state is ConnectionState.IDLE:
            self.begin()
        self.transport.write(data)

    async def drain(self) -> None:
        if self._writable is not None:
            await self._writable

    async def response_head(self) -> None:
        await self._headers_ready

    async def read_chunk(self) -> bytes:
        """The next piece of the body as it arrived; b"" at its end."""
        while not self._chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            await self._waiter
            self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < _LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def take_whole_body(self) -> bytes | None:
        """The whole body when it has already arrived (the usual small JSON answer), else None."""
        if not self._complete:
            return None
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return body

    def peek_whole_body(self) -> bytes | None:
        """The whole body when it has already arrived, left in place (a filter reads an error
        answer before deciding whether the client gets it), else None."""
        if not self._complete:
            return None
        chunks = self._chunks
        if len(chunks) > 1:
            whole = b"".join(chunks)
            chunks.clear()
            chunks.append(whole)
        return chunks[0] if chunks else b""

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def got_bytes(self) -> bool:
        return self._got_bytes

    @property
    def usable(self) -> bool:
        return (
            self.state is not ConnectionState.CLOSED
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def finish(self) -> bool:
        """End the exchange: True (and idle) when the connection may serve another one."""
        if self._complete and self.reusable and self.usable:
            self.state = ConnectionState.IDLE
            self.idle_since = time.monotonic()
            return True
        self.close()
        return False

    def close(self) -> None:
        self.state = ConnectionState.CLOSED
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.state is ConnectionState.IDLE or (self._complete and self._head_only):
            # Bytes nobody asked for (a body sent after a HEAD answer, say): the next
            # exchange could not tell them from its own answer.
            self.reusable = False
            self.close()
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResetMidResponse(f"malformed response from the backend: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        was = self.state
        self.state = ConnectionState.CLOSED
        if self._on_lost is not None:
            self._on_lost()
        if not self._complete:
            if not self._headers_ready.done():
                self._fail(
                    ResetBeforeResponse(f"the backend closed the connection ({exc or 'EOF'})")
                )
            elif (
                self._framing is _Framing.UNTIL_CLOSE
                and exc is None
                and was is not ConnectionState.IDLE
            ):
                self._complete = True  # a clean close is how this body ends
                self._wake()
            else:
                self._fail(
                    ResetMidResponse(
                        f"the backend closed the connection mid-response ({exc or 'EOF'})"
                    )
                )
        if self._writable is not None and not self._writable.done():
            self._writable.set_exception(ResetBeforeResponse("the backend closed the connection"))

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools callbacks --------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += _header_text(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), _header_text(value)))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if 100 <= self.status < 200 and self.status != 101:
            self.headers.clear()  # an interim answer (100 Continue): the real one follows
            self.reason = ""
            return
        self._framing = self._framing_of_body()
        self.state = ConnectionState.BODY
        if not self._headers_ready.done():
            self._headers_ready.set_result(None)
        if self._framing is _Framing.NONE and self._head_only:
            self._message_complete()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200 and self.status != 101:
            return
        if not self._complete:
            self._message_complete()

    # -- inside --------------------------------------------------------------

    def _framing_of_body(self) -> _Framing:
        if self._head_only or self.status in _NO_BODY_STATUSES:
            return _Framing.NONE
        names = {name.lower() for name, _ in self.headers}
        if "content-length" in names or "transfer-encoding" in names:
            return _Framing.LENGTH_OR_CHUNKED
        return _Framing.UNTIL_CLOSE

    def _message_complete(self) -> None:
        self._complete = True
        self.reusable = (
            self._framing is not _Framing.UNTIL_CLOSE and self._parser.should_keep_alive()
        )
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        self._error = error
        if not self._headers_ready.done():
            self._headers_ready.set_exception(error)
            self._headers_ready.exception()  # retrieved: no "never retrieved" warning
        self._wake()


async def write_body(
    connection: Http1Connection, chunks: AsyncIterator[bytes], chunked: bool
) -> None:
    """Stream a request body upstream, framing it when its length is unknown."""
    async for chunk in chunks:
        if not chunk:
            continue
        connection.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        await connection.drain()
    if chunked:
        connection.write(b"0\r\n\r\n")
