"""A pooled HTTP/1.1 client at the protocol level, for the proxy's upstream half.

Why not aiohttp's ClientSession: profiling the proxy (bench/PROFILE.md) put
about half of its CPU in the general-purpose client (request objects,
payload registry, auto headers, connector bookkeeping). A proxy already has
the method, path and headers in hand; it needs to write them, parse the
answer (llhttp, through httptools) and hand body chunks on as they come.

One ``UpstreamPool`` per origin keeps idle keep-alive connections and
enforces the circuit breaker on connections: at most ``max_connections``
open, at most ``max_pending`` requests waiting for one, and an immediate
``PoolOverflow`` beyond that. A body is handed on chunk by chunk with
back-pressure: reading from the backend pauses when the client is slower
than it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import cast

import httptools

from data_plane.errors import DataPlaneError

_HIGH_WATER = 1 << 20  # bytes buffered from the backend before reading from it pauses
_LOW_WATER = 256 << 10


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

    def __init__(self, message: str, *, reused: bool = False) -> None:
        super().__init__(message)
        self.reused = reused


class ResetMidResponse(UpstreamError):
    pass


class PoolOverflow(DataPlaneError):
    """Every connection to the target is busy and its queue is full: answer 503 now.

    Not an ``UpstreamError``: the backend did nothing wrong, so it counts
    toward no ejection.
    """


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The circuit breaker on connections (Envoy's defaults)."""

    max_connections: int = 1024
    max_pending: int = 1024


DEFAULT_LIMITS = PoolLimits()


class Http1Connection(asyncio.Protocol):
    """One connection to a backend; serves one request at a time."""

    def __init__(self, on_lost: Callable[[], None] | None = None) -> None:
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._reset_exchange()
        self._writable: asyncio.Future[None] | None = None
        self.closed = False

    def _reset_exchange(self) -> None:
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self._headers_ready: asyncio.Future[None] = self._loop.create_future()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._error: UpstreamError | None = None
        self._paused = False
        self._got_bytes = False
        self.reusable = False

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResetMidResponse(f"malformed response from the backend: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._on_lost is not None:
            self._on_lost()
        if not self._complete:
            if not self._headers_ready.done():
                self._fail(
                    ResetBeforeResponse(f"the backend closed the connection ({exc or 'EOF'})")
                )
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
        if not self._headers_ready.done():
            self._headers_ready.set_result(None)

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
        self._complete = True
        self.reusable = self._parser.should_keep_alive()
        self._wake()

    # -- the exchange -----------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        self._error = error
        if not self._headers_ready.done():
            self._headers_ready.set_exception(error)
            self._headers_ready.exception()  # retrieved: no "never retrieved" warning
        self._wake()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
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

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def got_bytes(self) -> bool:
        return self._got_bytes

    def prepare_next(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._reset_exchange()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Connections to one origin (scheme, host, port): idle keep-alive ones and a count of all."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        max_idle: int = 256,
    ) -> None:
        self.host = host.strip("[]")
        self.port = port
        self.ssl: ssl.SSLContext | None = (
            (tls or ssl.create_default_context()) if scheme == "https" else None
        )
        self._server_name = (server_name or self.host) if self.ssl else None
        self._idle: collections.deque[Http1Connection] = collections.deque()
        self._max_idle = max_idle
        self.open = 0  # connections open or being opened
        # Requests waiting for a connection: each gets a released connection, or None when
        # a closed connection's slot passes to it (``open`` already counts it).
        self._waiters: collections.deque[asyncio.Future[Http1Connection | None]] = (
            collections.deque()
        )

    @property
    def pending(self) -> int:
        return len(self._waiters)

    async def acquire(
        self, connect_timeout: float, limits: PoolLimits = DEFAULT_LIMITS
    ) -> tuple[Http1Connection, bool]:
        """A connection and whether it was reused (a reused one may have been closed meanwhile).

        The limit is on connections in use: routes with different limits share the pool,
        so an idle connection another route opened is not free to take past this route's.
        """
        if self.open - len(self._idle) >= limits.max_connections:
            handed = await self._wait_for_connection(limits)
            if handed is not None:
                return handed, True
        else:
            while self._idle:
                connection = self._idle.pop()
                if _usable(connection):
                    connection.prepare_next()
                    return connection, True
            self.open += 1
        slot = _Slot(self._slot_freed)
        try:
            return await self._connect(connect_timeout, slot), False
        except BaseException:
            slot.free()  # a no-op when the half-made connection already gave it back
            raise

    async def _wait_for_connection(self, limits: PoolLimits) -> Http1Connection | None:
        if len(self._waiters) >= limits.max_pending:
            raise PoolOverflow(
                f"{self.host}:{self.port}: {self.open} connections busy and "
                f"{len(self._waiters)} requests waiting (the circuit breaker's limits)"
            )
        waiter: asyncio.Future[Http1Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed over as we were cancelled
                given = waiter.result()
                if given is None:
                    self._slot_freed()
                else:
                    self.release(given)
            else:
                with contextlib.suppress(ValueError):  # already dropped by a slot being freed
                    self._waiters.remove(waiter)
            raise
        if handed is not None:
            handed.prepare_next()
        return handed

    async def _connect(self, connect_timeout: float, slot: _Slot) -> Http1Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: Http1Connection(slot.free), self.host, self.port,
                    ssl=self.ssl, server_hostname=self._server_name,
                )  # fmt: skip
        except TimeoutError:
            raise ConnectFailed(
                f"connecting to {self.host}:{self.port} took over {connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise ConnectFailed(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        return protocol

    def _slot_freed(self) -> None:
        """A connection closed (or never opened): its slot goes to a waiting request, if any."""
        if any(c.closed for c in self._idle):  # the backend closed a kept-alive one
            self._idle = collections.deque(c for c in self._idle if not c.closed)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1

    def release(self, connection: Http1Connection) -> None:
        """Keep the connection for the next request when its exchange ended cleanly."""
        if not (connection.complete and connection.reusable and _usable(connection)):
            connection.close()  # its slot is freed when the transport reports it lost
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class _Slot:
    """One place under ``max_connections``, given back exactly once: by the connection when it
    closes, or by ``acquire`` when connecting failed, whichever comes first."""

    __slots__ = ("_give_back", "held")

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back = give_back
        self.held = True

    def free(self) -> None:
        if self.held:
            self.held = False
            self._give_back()


def _usable(connection: Http1Connection) -> bool:
    return (
        not connection.closed
        and connection.transport is not None
        and not connection.transport.is_closing()
    )


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
