"""The usage meter reads a stream however it is cut into chunks, and hides only the usage
chunk a client did not ask for."""

from __future__ import annotations

import time
from typing import Any

import orjson
from multidict import CIMultiDict

from data_plane.ai.model_request import AiRequest
from data_plane.ai.shapes import ApiShape
from data_plane.ai.usage_meter import UsageMeter


class FakeExchange:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.usage: Any = None
        self.response_model: Any = None


def chunk(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


BASE = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06"}
STREAM = (
    chunk({**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    + b"".join(
        chunk({**BASE, "choices": [{"index": 0, "delta": {"content": f't{i} "x"'}}]})
        for i in range(4)
    )
    + chunk({**BASE, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    + b"data: [DONE]\n\n"
)


def meter_for(body: bytes) -> tuple[UsageMeter, FakeExchange, list[UsageMeter]]:
    request = AiRequest.of(ApiShape.CHAT, body, None, None)
    exchange = FakeExchange()
    done: list[UsageMeter] = []
    meter = UsageMeter(request, exchange, lambda _ex, m: done.append(m))  # type: ignore[arg-type]
    meter.on_headers(exchange, 200, CIMultiDict({"Content-Type": "text/event-stream"}))  # type: ignore[arg-type]
    return meter, exchange, done


def test_any_cut_of_the_stream_gives_the_same_events_and_usage() -> None:
    hidden_body = b'{"model": "gpt-4o", "stream": true}'
    expected = STREAM.replace(
        chunk({**BASE, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}), b""
    )
    for size in (1, 2, 7, 50, len(STREAM)):
        meter, exchange, done = meter_for(hidden_body)
        sent = b""
        for start in range(0, len(STREAM), size):
            sent += meter.edit(STREAM[start : start + size])
        sent += meter.flush()
        meter.on_end(exchange)  # type: ignore[arg-type]
        assert sent == expected, size
        assert exchange.usage.input == 9 and exchange.usage.output == 4
        assert not exchange.usage.estimated and done == [meter]
        assert exchange.response_model == "gpt-4o-2024-08-06"
        assert meter.content_events == 4  # the empty first delta is not content


def test_a_client_that_asked_for_usage_gets_the_stream_unchanged() -> None:
    meter, exchange, _ = meter_for(
        b'{"model": "m", "stream": true, "stream_options": {"include_usage": true}}'
    )
    assert not meter.edit(b"") and meter.edit(STREAM) == STREAM  # not an editor: passes
    meter.on_chunk(exchange, STREAM)  # type: ignore[arg-type]
    meter.on_end(exchange)  # type: ignore[arg-type]
    assert exchange.usage.output == 4


def test_crlf_framed_events_are_read() -> None:
    meter, exchange, _ = meter_for(
        b'{"model": "m", "stream": true, "stream_options": {"include_usage": true}}'
    )
    meter.on_chunk(exchange, STREAM.replace(b"\n\n", b"\r\n\r\n"))  # type: ignore[arg-type]
    meter.on_end(exchange)  # type: ignore[arg-type]
    assert (exchange.usage.input, exchange.usage.output) == (9, 4)


def test_a_stream_without_usage_is_estimated() -> None:
    meter, exchange, _ = meter_for(b'{"model": "m", "stream": true}')
    cut = STREAM.split(
        b'data: {"id":"c","object":"chat.completion.chunk","model":'
        b'"gpt-4o-2024-08-06","choices":[],'
    )[0]
    meter.edit(cut)
    meter.on_abort(exchange, "upstream_reset")  # type: ignore[arg-type]
    assert exchange.usage.estimated and exchange.usage.output >= 4
