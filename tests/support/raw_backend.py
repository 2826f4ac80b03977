"""A backend that answers with exact bytes, and counts its connections: for what HTTP servers
will not send on purpose (a body ended by closing, a HEAD answer) and for connection reuse.

Runs its own event loop in a thread, on 127.0.0.1:0. ``answers`` maps a request path to the
bytes written back (then the connection is closed when ``close`` is set for it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RawBackend:
    answers: dict[str, tuple[bytes, bool]]  # path -> (bytes, close after them)
    port: int = 0
    opened: int = 0
    closed: int = 0
    requests: list[str] = field(default_factory=list)  # "METHOD path", in order
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_now(self) -> int:
        return self.opened - self.closed

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path = head.split(b" ", 2)[:2]
                text = path.decode()
                self.requests.append(f"{method.decode()} {text}")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                answer, close = self.answers.get(
                    text, (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False)
                )
                writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed += 1


@contextmanager
def raw_backend(answers: dict[str, tuple[bytes, bool]]) -> Iterator[RawBackend]:
    backend = RawBackend(answers)
    started = threading.Event()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        server = await asyncio.start_server(backend._handle, "127.0.0.1", 0)
        backend.port = server.sockets[0].getsockname()[1]
        backend._loop = asyncio.get_running_loop()
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the raw backend did not start"
    try:
        yield backend
    finally:
        assert backend._loop is not None and stop is not None
        backend._loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
