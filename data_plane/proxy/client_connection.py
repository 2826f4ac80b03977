"""Client connections with the usual bounds: a request-head timeout and a keep-alive idle timeout.

aiohttp's server has one timer: from a connection's start (or the end of its
last answer) until a whole request has arrived, ``keepalive_timeout``. That
is the idle timeout here. What it lacks is nginx's ``client_header_timeout``
and Envoy's ``request_headers_timeout``: a client that trickles a head byte
by byte (slowloris) would hold the connection for the whole idle period. So
each connection also times its request head, from its start and from the
first byte of every later head, and answers 408 and closes when it is late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from data_plane.metrics import CLIENT_TIMEOUTS

_HEAD_TIMED_OUT = CLIENT_TIMEOUTS.labels("request_head")
_IDLE_TIMED_OUT = CLIENT_TIMEOUTS.labels("idle")


def _timeout_answer(seconds: float) -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "message": f"the request head did not arrive within {seconds:g}s",
                "type": "invalid_request_error",
                "code": "request_timeout",
            }
        }
    )
    return (
        b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


class ClientConnection(RequestHandler):
    """One client connection: aiohttp's handler, with its head timed and its life counted."""

    __slots__ = ("_head_timeout", "_head_timer", "_on_close", "_open")

    def __init__(
        self,
        manager: web.Server,
        *,
        head_timeout: float,
        on_close: Callable[[], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._on_close = on_close  # once, when a connection that was made is lost
        self._open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._open = True
        super().connection_made(transport)
        self._time_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        if self._open:
            self._open = False
            self._on_close()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and self._head_timer is None and self._awaiting_head():
            self._time_head()  # the first byte of a new head
        super().data_received(data)
        if self._head_timer is not None and not self._awaiting_head():
            self._stop_head_timer()

    def _process_keepalive(self) -> None:
        closing = not self._force_close
        super()._process_keepalive()
        if closing and self._force_close:
            _IDLE_TIMED_OUT.inc()

    def _awaiting_head(self) -> bool:
        return not self._messages and not self._request_in_progress

    def _time_head(self) -> None:
        self._head_timer = self._loop.call_later(self._head_timeout, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self._awaiting_head() or self._current_request is not None:
            return  # a request is being served after all (its body arrived in a gap)
        _HEAD_TIMED_OUT.inc()
        if self.transport is not None:
            self.transport.write(_timeout_answer(self._head_timeout))
        self.force_close()


class ClientServer(web.Server):
    """aiohttp's low-level server, making ClientConnections; ``on_close`` hears each one end."""

    def __init__(
        self,
        handler: Any,
        *,
        head_timeout: float,
        idle_timeout: float,
        on_close: Callable[[], None] = lambda: None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, keepalive_timeout=idle_timeout, **kwargs)
        self._head_timeout = head_timeout
        self._on_close = on_close

    def __call__(self) -> RequestHandler:
        return ClientConnection(
            self,
            loop=self._loop,
            head_timeout=self._head_timeout,
            on_close=self._on_close,
            **self._kwargs,
        )
