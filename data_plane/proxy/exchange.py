"""One request's state, from its arrival to its last byte: what every stage reads and writes.

The handler makes it, filters fill it in (the consumer, the body, the target,
the error code), the relay counts what went out, and the access log and the
metrics read it at the end. Nothing else carries request state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from data_plane.ai.model_request import AiRequest, ParsedBody
    from data_plane.ai.usage import Usage
    from data_plane.ai.usage_meter import UsageMeter
    from data_plane.proxy.observers import ResponseObserver, StreamEditor
    from data_plane.runtime.routes import CompiledRoute, Fallback
    from data_plane.upstream.targets import Target


@dataclass(slots=True, eq=False)
class RequestBody:
    """The client's body: read whole when small (it can be sent again to another target), else
    streamed once, with a running size check."""

    data: bytes | None  # the whole body, or None while it is streamed
    length: int | None  # Content-Length; None: chunked
    seen: int = 0  # bytes read from the client so far
    exceeded: bool = False  # the streamed body went over the limit

    @property
    def replayable(self) -> bool:
        return self.data is not None


@dataclass(slots=True, eq=False)
class Exchange:
    request: web.BaseRequest
    started: float = field(default_factory=time.perf_counter)
    request_id: str = ""
    path: str = ""  # normalised, without its query
    client_ip: str = ""
    peer_ip: str = ""  # the hop that connected to us: appended to X-Forwarded-For
    route: CompiledRoute | None = None
    route_name: str = "none"
    consumer: str | None = None
    key_id: str | None = None  # the API key that authenticated it, when one did
    drop_headers: tuple[str, ...] = ()  # the credential: the gateway's, not the backend's
    body: RequestBody | None = None
    target: Target | None = None
    target_url: str = ""
    retries: int = 0
    upstream_seconds: float | None = None  # sent to response headers (the last try)
    response_bytes: int = 0
    status: int = 499  # the client went away before an answer
    error: str = ""  # the error code of a refusal or a failure, for the access log
    observers: list[ResponseObserver] = field(default_factory=list)
    editor: StreamEditor | None = None  # rewrites the streamed body (hides a usage chunk)
    # AI traffic (data_plane.ai): what was asked, what it used
    parsed_body: ParsedBody | None = None  # read before routing, for a route that needs a model
    ai: AiRequest | None = None
    usage: Usage | None = None
    response_model: str | None = None
    cost_usd: float | None = None
    ttft_seconds: float | None = None
    tpot_seconds: float | None = None  # time per output token after the first (streams)
    meter: UsageMeter | None = None  # counts the answer's tokens as they pass
    # What the request holds until it is over (a token reservation): the handler calls it once.
    settle: Callable[[Exchange], None] | None = None
    # Set by an observer to end a stream at its next chunk with an error event: (code, message).
    cut: tuple[str, str] | None = None
    fallback: Fallback | None = None  # the route's fallback being tried (None: its own targets)
    fallback_reason: str = ""  # why: 429, 5xx, timeout, context_length
    attempts_started: float = 0.0  # the first-byte deadline runs from here (0: from started)

    @property
    def request_bytes(self) -> int:
        return self.body.seen if self.body is not None else 0

    def observe(self, observer: ResponseObserver) -> None:
        """Watch the response as it streams to the client (see data_plane.proxy.observers)."""
        self.observers.append(observer)

    def failed(self, code: str) -> None:
        self.error = code
