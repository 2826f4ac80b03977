"""Connections to one backend origin: idle keep-alive ones, and the circuit breaker on them.

At most ``max_connections`` are in use at once and at most ``max_pending``
requests wait for one; beyond that ``PoolOverflow`` answers at once. A
kept-alive connection that sat idle longer than ``idle_timeout`` is closed
rather than reused (backends and middleboxes drop idle connections silently;
nginx's ``keepalive_timeout`` and Envoy's ``idle_timeout`` do the same).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from data_plane.errors import DataPlaneError
from data_plane.upstream.http1 import ConnectFailed, Http1Connection

DEFAULT_IDLE_TIMEOUT = 60.0


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
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.host = host.strip("[]")
        self.port = port
        self.ssl: ssl.SSLContext | None = (
            (tls or ssl.create_default_context()) if scheme == "https" else None
        )
        self._server_name = (server_name or self.host) if self.ssl else None
        self._idle: collections.deque[Http1Connection] = collections.deque()
        self._max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.closed = False  # no config uses the origin any more: nothing is kept alive
        self.wanted_at = time.monotonic()  # when a config last bound this pool
        self.open = 0  # connections open or being opened
        # Requests waiting for a connection: each gets a released connection, or None when
        # a closed connection's slot passes to it (``open`` already counts it).
        self._waiters: collections.deque[asyncio.Future[Http1Connection | None]] = (
            collections.deque()
        )

    @property
    def pending(self) -> int:
        return len(self._waiters)

    @property
    def idle(self) -> int:
        return len(self._idle)

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
            fresh_after = time.monotonic() - self.idle_timeout
            while self._idle:
                connection = self._idle.pop()
                if connection.usable and connection.idle_since >= fresh_after:
                    return connection, True
                connection.close()  # its slot is freed when the transport reports it lost
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
            return await waiter
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
        if any(not c.usable for c in self._idle):  # the backend closed a kept-alive one
            self._idle = collections.deque(c for c in self._idle if c.usable)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1

    def release(self, connection: Http1Connection) -> None:
        """End the connection's exchange; keep it for the next request when that ended cleanly."""
        if not connection.finish():
            return  # closed: its slot is freed when the transport reports it lost
        if self.closed:
            connection.close()
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

    def expire_idle(self) -> int:
        """Close the kept-alive connections idle for longer than ``idle_timeout``; how many."""
        fresh_after = time.monotonic() - self.idle_timeout
        stale = [c for c in self._idle if c.idle_since < fresh_after or not c.usable]
        if stale:
            gone = {id(c) for c in stale}
            self._idle = collections.deque(c for c in self._idle if id(c) not in gone)
            for connection in stale:
                connection.close()
        return len(stale)

    def close(self) -> None:
        self.closed = True
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
