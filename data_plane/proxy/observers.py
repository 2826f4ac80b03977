"""Watching a response as it streams to the client, without buffering or delaying it.

A filter attaches an observer to the exchange (``exchange.observe(...)``);
the relay calls it with the response head, with each body chunk right after
the chunk was handed to the client, and once at the end or on an abort. The
calls are synchronous and must be cheap: an observer never delays a chunk.
The next issues' token counter and time to first token are observers.

``SseEvents`` turns chunks into server-sent events for observers that want
events, not chunks: it keeps at most one partial event (capped), so a
backend that never ends an event cannot make it grow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from multidict import CIMultiDict

    from data_plane.proxy.exchange import Exchange

MAX_EVENT_BYTES = 1 << 20


class ResponseObserver(Protocol):
    def on_headers(self, exchange: Exchange, status: int, headers: CIMultiDict[str]) -> None:
        """The head, as the client gets it."""

    def on_chunk(self, exchange: Exchange, chunk: bytes) -> None:
        """A piece of the body, as the client got it."""

    def on_end(self, exchange: Exchange) -> None:
        """The body ended cleanly."""

    def on_abort(self, exchange: Exchange, reason: str) -> None:
        """The body was cut: the backend failed or stalled, or the client left."""


class StreamEditor(Protocol):
    """What may change a streamed body on its way (one per exchange, rarely: the AI meter when
    it hides the usage chunk the client did not ask for)."""

    def edit(self, chunk: bytes) -> bytes:
        """What of ``chunk`` goes to the client now (b"": nothing yet)."""

    def flush(self) -> bytes:
        """What is still held back, when the body ends."""


class SseEvents:
    """An observer that hands ``on_event`` each complete server-sent event (its bytes, without
    the blank line that ends it), in order; the rest of the protocol passes through."""

    def __init__(
        self,
        on_event: Callable[[Exchange, bytes], None],
        on_end: Callable[[Exchange, bool], None] | None = None,
    ) -> None:
        """``on_end(exchange, clean)``: the stream ended cleanly (True) or was cut (False)."""
        self._on_event = on_event
        self._on_end = on_end
        self._partial = b""
        self.oversized = 0  # events dropped for being over MAX_EVENT_BYTES

    def on_headers(self, exchange: Exchange, status: int, headers: CIMultiDict[str]) -> None:
        pass

    def on_chunk(self, exchange: Exchange, chunk: bytes) -> None:
        data = self._partial + chunk if self._partial else chunk
        start = 0
        while True:
            end, size = _event_end(data, start)
            if end < 0:
                break
            self._on_event(exchange, data[start:end])
            start = end + size
        rest = data[start:]
        if len(rest) > MAX_EVENT_BYTES:
            self.oversized += 1
            rest = b""
        self._partial = rest

    def on_end(self, exchange: Exchange) -> None:
        if self._partial.strip():
            self._on_event(exchange, self._partial)  # a last event without its blank line
        self._partial = b""
        if self._on_end is not None:
            self._on_end(exchange, True)

    def on_abort(self, exchange: Exchange, reason: str) -> None:
        self._partial = b""
        if self._on_end is not None:
            self._on_end(exchange, False)


def _event_end(data: bytes, start: int) -> tuple[int, int]:
    """Where the event beginning at ``start`` ends and how long its terminator is; (-1, 0) when
    it has not ended yet. SSE lines end in LF, CRLF or CR; an empty line ends an event."""
    best, size = -1, 0
    for terminator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        found = data.find(terminator, start)
        if found >= 0 and (best < 0 or found < best):
            best, size = found, len(terminator)
    return best, size
