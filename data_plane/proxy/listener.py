"""The proxy's accept loop: at most ``max_connections`` client connections open per process.

asyncio's ``create_server`` accepts for as long as there are file descriptors,
and has no public way to pause. Beyond the cap, this loop stops accepting and
leaves new clients in the kernel's backlog (nginx's ``worker_connections``, Envoy's
``max_downstream_connections``) until a connection closes; the ops port, a
listener of its own, keeps answering ``/healthz`` meanwhile. TLS handshakes
run in their own tasks, bounded by the request-head timeout, so a slow
handshake never holds up accepting others.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import ssl
import time
from collections.abc import Callable

from aiohttp.web_protocol import RequestHandler

from data_plane.metrics import ACCEPT_ERRORS, ACCEPT_PAUSES

log = logging.getLogger("ai_gateway.data_plane.listener")

MAX_DEFAULT_CONNECTIONS = 100_000
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def raise_open_files_limit() -> int:
    """Raise this process's open-files soft limit to its hard limit (the 1024 default is for
    desktop programs, not a proxy); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # the limit stays; the connection cap follows it
    return soft


def default_max_connections(open_files: int) -> int:
    """A third of the open-files limit: each client connection may hold one to a backend, and
    the rest is for the process's own files, pools and health checks."""
    return max(16, min(MAX_DEFAULT_CONNECTIONS, open_files // 3))


class AcceptLoop:
    def __init__(
        self,
        sock: socket.socket,
        protocol: Callable[[], RequestHandler],
        *,
        max_connections: int,
        tls: ssl.SSLContext | None = None,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self.max_connections = max_connections
        self._tls = tls
        self._handshake_timeout = handshake_timeout
        self.open = 0  # accepted and not yet closed (handshaking ones too)
        self._room = asyncio.Event()
        self._handshakes: set[asyncio.Task[None]] = set()
        self._last_error_log = 0.0

    def closed(self) -> None:
        """One accepted connection ended: there may be room to accept again."""
        self.open -= 1
        if self.open < self.max_connections:
            self._room.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.open >= self.max_connections:
                ACCEPT_PAUSES.inc()
                self._room.clear()
                log.warning(
                    "%d client connections open: accepting paused until one closes (--max-connections)",
                    self.open,
                )
                await self._room.wait()
            try:
                client, _ = await loop.sock_accept(self._sock)
            except OSError as exc:
                await self._accept_failed(exc)
                continue
            await self._adopt(loop, client)
            while self.open < self.max_connections:  # drain the backlog without a wake-up each
                try:
                    client, _ = self._sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    await self._accept_failed(exc)
                    break
                await self._adopt(loop, client)

    async def _adopt(self, loop: asyncio.AbstractEventLoop, client: socket.socket) -> None:
        self.open += 1
        client.setblocking(False)
        if client.family in (socket.AF_INET, socket.AF_INET6):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is None:
            await self._connect(loop, client)  # no network wait: the transport is made at once
            return
        task = loop.create_task(self._connect(loop, client))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _connect(self, loop: asyncio.AbstractEventLoop, client: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(
                self._protocol,
                client,
                ssl=self._tls,
                ssl_handshake_timeout=self._handshake_timeout if self._tls else None,
            )
        except Exception as exc:  # a refused handshake, a reset, a timeout: always counted back
            log.debug("client connection not set up: %r", exc)
            client.close()
            self.closed()  # never made, so its protocol will not report the close

    async def _accept_failed(self, exc: OSError) -> None:
        ACCEPT_ERRORS.inc()
        if exc.errno in _OUT_OF_DESCRIPTORS:
            now = time.monotonic()
            if now - self._last_error_log > 10:
                self._last_error_log = now
                log.error(
                    "cannot accept a client connection (%s) with %d open; lower "
                    "--max-connections or raise the open-files limit",
                    exc.strerror,
                    self.open,
                )
            await asyncio.sleep(0.1)  # wait for descriptors rather than spin

    async def stop(self) -> None:
        for task in list(self._handshakes):
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
