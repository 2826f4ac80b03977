"""Counting an answer's tokens as it passes, and timing its first token: a response observer.

Nothing is buffered that was not already. A JSON answer is parsed once at its
end (a whole answer is already in memory; a chunked one is kept up to
``MAX_JSON_BYTES``, past which it is not parsed). A server-sent-event stream is
split into events without decoding them: a few byte searches per event find
the content (for the time to first token and the estimate) and the events
that carry usage, and only those few are decoded: OpenAI's final usage chunk
(``"usage":{``), Anthropic's ``message_start`` and ``message_delta``, the
Responses API's ``response.completed``. Until the first token, events are
decoded to learn the answer's model.

When the gateway asked for usage on the client's behalf
(``AiRequest.hide_usage``), the meter also edits the stream: it passes each
complete event through and keeps back the usage-only chunk the client did not
ask for. A partial event waits for its end (an SSE client cannot act on it
earlier); one that grows past ``MAX_EVENT_BYTES`` goes out as it is.

A stream that ends without usage (cut, or a backend that never reports it) is
estimated: output tokens are the larger of the number of content events and
the content's bytes / 4; input tokens are the request body's bytes / 4.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from data_plane.ai.model_request import AiRequest, valid_model_name
from data_plane.ai.shapes import ApiShape
from data_plane.ai.usage import Usage, anthropic_usage, estimate_tokens, openai_usage

if TYPE_CHECKING:
    from multidict import CIMultiDict

    from data_plane.proxy.exchange import Exchange

MAX_JSON_BYTES = 4 << 20
MAX_EVENT_BYTES = 1 << 20
MODEL_TRIES = 3  # events decoded, at most, to learn the answer's model
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")
_ANTHROPIC_USAGE_EVENTS = (b"event: message_start", b"event: message_delta",
                           b"event:message_start", b"event:message_delta")  # fmt: skip
_RESPONSES_DONE = (b"event: response.completed", b"event:response.completed")


class UsageMeter:
    """One per AI exchange: observer (always) and stream editor (when usage is hidden)."""

    __slots__ = (
        "_ai",
        "_exchange",
        "_final",
        "_json",
        "_json_size",
        "_keys",
        "_mode",
        "_model_tries",
        "_on_done",
        "_partial",
        "content_bytes",
        "content_events",
        "first_token_at",
        "last_token_at",
        "oversized",
        "response_model",
        "usage",
    )  # fmt: skip

    def __init__(
        self, ai: AiRequest, exchange: Exchange, on_done: Callable[[Exchange, UsageMeter], None]
    ) -> None:
        """``on_done(exchange, meter)``: the answer ended or was cut, its usage is known."""
        self._ai = ai
        self._exchange = exchange
        self._on_done = on_done
        self._mode = ""  # "sse", "json" or "" (not read)
        self._model_tries = MODEL_TRIES
        self._final = False  # the backend's final usage was read
        self._partial = b""
        self._json: list[bytes] = []
        self._json_size = 0
        self._keys = ai.shape.content_keys
        self.usage: Usage | None = None
        self.response_model: str | None = None
        self.first_token_at: float | None = None  # perf_counter
        self.last_token_at: float | None = None
        self.content_events = 0
        self.content_bytes = 0
        self.oversized = 0

    # -- the observer protocol ------------------------------------------------

    def on_headers(self, exchange: Exchange, status: int, headers: CIMultiDict[str]) -> None:
        kind = headers.get("Content-Type", "")
        if kind.startswith("text/event-stream"):
            self._mode = "sse"
        elif "json" in kind and 200 <= status < 300:
            self._mode = "json"

    def on_chunk(self, exchange: Exchange, chunk: bytes) -> None:
        if self._mode == "json":
            self._json_size += len(chunk)
            if self._json_size <= MAX_JSON_BYTES:
                self._json.append(chunk)
            else:
                self._json.clear()
        elif self._mode == "sse" and not self._ai.hide_usage:
            self._split(chunk, keep=False)

    def on_end(self, exchange: Exchange) -> None:
        if self._mode == "json" and self._json:
            self._read_answer(b"".join(self._json) if len(self._json) > 1 else self._json[0])
        elif self._mode == "sse" and self._partial.strip():
            self._event(self._partial)
        self._finish(cut=False)

    def on_abort(self, exchange: Exchange, reason: str) -> None:
        self._finish(cut=True)

    # -- the stream editor (hide_usage) ---------------------------------------

    def edit(self, chunk: bytes) -> bytes:
        """What of ``chunk`` goes to the client now: the complete events, minus a hidden one."""
        if self._mode != "sse":
            return chunk
        return self._split(chunk, keep=True)

    def flush(self) -> bytes:
        """The held-back partial event, at the end of the stream."""
        rest, self._partial = self._partial, b""
        if rest.strip() and self._mode == "sse" and self._event(rest):
            return rest
        return b"" if self._mode == "sse" else rest

    # -- reading ----------------------------------------------------------------

    def _split(self, chunk: bytes, keep: bool) -> bytes:
        """Read the complete events in what arrived; with ``keep``, return them (minus a
        hidden one) and hold the partial last event back."""
        data = self._partial + chunk if self._partial else chunk
        start = 0
        pieces: list[bytes] | None = None  # only when an event is kept from the client
        run = 0  # where the bytes not yet in ``pieces`` begin
        while True:
            end, size = _event_end(data, start)
            if end < 0:
                break
            after = end + size
            if not self._event(data[start:end]) and keep:
                pieces = pieces if pieces is not None else []
                pieces.append(data[run:start])
                run = after
            start = after
        rest = data[start:]
        complete = b""
        if keep:
            complete = data[:start] if pieces is None else b"".join([*pieces, data[run:start]])
        if len(rest) > MAX_EVENT_BYTES:
            self.oversized += 1
            self._partial = b""
            return complete + rest
        self._partial = rest
        return complete

    def _event(self, event: bytes) -> bool:
        """Read one event; False: keep it from the client (the usage chunk it did not ask for)."""
        shape = self._ai.shape
        if shape is ApiShape.MESSAGES:
            if event.startswith(_ANTHROPIC_USAGE_EVENTS):
                self._anthropic(event)
            elif self._has_content(event):
                self._token()
            return True
        if shape is ApiShape.RESPONSES:
            if event.startswith(_RESPONSES_DONE):
                self._responses_done(event)
            elif b".delta" in event[:64] and self._has_content(event):
                self._token()
            return True
        marker = event.find(b'"usage":')
        if marker >= 0 and _object_follows(event, marker + 8):
            document = _data_of(event)
            if isinstance(document, dict):
                self._response_model(document)
                self.usage = openai_usage(document.get("usage")) or self.usage
                self._final = self.usage is not None
                choices = document.get("choices")
                if self._ai.hide_usage and not choices:
                    return False
                if choices and self._has_content(event):
                    self._token()
            return True
        if self._has_content(event):
            if self.first_token_at is None and self._model_tries:
                self._model_of(event)
            self._token()
        elif self._model_tries and event.startswith(b"data:") and b"[DONE]" not in event:
            self._model_of(event)
        return True

    def _model_of(self, event: bytes) -> None:
        """The answer's model from an event: decoded for at most MODEL_TRIES events, so a
        backend that never names it does not make the meter decode every event."""
        self._model_tries -= 1
        document = _data_of(event)
        if isinstance(document, dict):
            self._response_model(document)
            if self.response_model is not None:
                self._model_tries = 0

    def _has_content(self, event: bytes) -> bool:
        found = 0
        for key in self._keys:
            at = event.find(key)
            while at >= 0:
                found += _string_length(event, at + len(key))
                at = event.find(key, at + len(key))
        if found:
            self.content_bytes += found
            return True
        return False

    def _token(self) -> None:
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self.content_events += 1

    def _response_model(self, document: dict[str, Any]) -> None:
        if self.response_model is None:
            model = document.get("model")
            asked = self._ai.model  # valid already: most answers name it back
            self.response_model = asked if model == asked else valid_model_name(model)

    def _anthropic(self, event: bytes) -> None:
        document = _data_of(event)
        if not isinstance(document, dict):
            return
        message = document.get("message")
        if isinstance(message, dict):  # message_start
            self._response_model(message)
            self.usage = anthropic_usage(message.get("usage"), self.usage)
        else:  # message_delta: the final counts
            self.usage = anthropic_usage(document.get("usage"), self.usage)
            self._final = self.usage is not None

    def _responses_done(self, event: bytes) -> None:
        document = _data_of(event)
        if isinstance(document, dict) and isinstance(document.get("response"), dict):
            response = document["response"]
            self._response_model(response)
            self.usage = openai_usage(response.get("usage")) or self.usage
            self._final = self.usage is not None

    def _read_answer(self, body: bytes) -> None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        if not isinstance(document, dict):
            return
        self._response_model(document)
        reported = document.get("usage")
        if self._ai.shape is ApiShape.MESSAGES:
            self.usage = anthropic_usage(reported)
        else:
            self.usage = openai_usage(reported)
        self._final = self.usage is not None
        if self.usage is None and self._ai.shape is not ApiShape.EMBEDDINGS:
            self.content_bytes = len(body)  # no usage: the whole answer bounds its text

    def _finish(self, cut: bool) -> None:
        if self._mode == "":
            return  # not an answer the meter reads (an error page, a file)
        usage = self.usage
        if not self._final:  # cut before the final usage, or a backend that gives none
            body = self._ai.body
            partial = usage or Usage()  # what a message_start said, say
            usage = Usage(
                input=partial.input or (estimate_tokens(len(body)) if body else 0),
                output=max(
                    partial.output, self.content_events, estimate_tokens(self.content_bytes)
                ),
                cached_input=partial.cached_input,
                cache_write=partial.cache_write,
                estimated=True,
            )
        self.usage = usage
        exchange = self._exchange
        exchange.usage = usage
        exchange.response_model = self.response_model
        self._on_done(exchange, self)


def _event_end(data: bytes, start: int) -> tuple[int, int]:
    best, size = -1, 0
    for terminator in _EVENT_ENDS:
        found = data.find(terminator, start)
        if found >= 0 and (best < 0 or found < best):
            best, size = found, len(terminator)
    return best, size


def _object_follows(event: bytes, at: int) -> bool:
    while at < len(event) and event[at] in b" \t":
        at += 1
    return at < len(event) and event[at] == 0x7B  # "{"


def _string_length(event: bytes, at: int) -> int:
    """The length of the JSON string value after a key (``"key": "..."``); 0 when the value
    is not a string or is empty. Escapes are counted as written: an estimate."""
    size = len(event)
    while at < size and event[at] in b" \t:":
        at += 1
    if at >= size or event[at] != 0x22:  # '"'
        return 0
    end = at + 1
    while True:
        end = event.find(b'"', end)
        if end < 0:
            return 0
        backslashes = 0
        while event[end - 1 - backslashes] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 0:
            return end - at - 1
        end += 1


def _data_of(event: bytes) -> Any:
    """The JSON in an event's ``data:`` lines (joined with newlines, per the SSE spec)."""
    lines = [line for line in event.splitlines() if line.startswith(b"data:")]
    if not lines:
        return None
    payload = b"\n".join(line[5:] for line in lines)
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
