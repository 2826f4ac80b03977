"""How the AI request is read: the model found without a parse when that is unambiguous, the
body parsed when something in it changes, and include_usage asked for a stream."""

from __future__ import annotations

import orjson

from data_plane.ai.model_request import AiRequest, parse_body
from data_plane.ai.shapes import ApiShape


def test_a_body_is_sent_as_received_and_renamed_on_demand() -> None:
    body = b'{"messages": [{"role": "user", "content": "hi"}], "model": "chat-large"}'
    request = AiRequest.of(ApiShape.CHAT, body, None, None)
    assert request.model == "chat-large"
    assert request.body_for(None) == body  # sent as received
    renamed = orjson.loads(request.body_for("meta-llama/Llama-3.1-70B-Instruct") or b"")
    assert renamed == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "meta-llama/Llama-3.1-70B-Instruct",
    }


def test_the_model_is_the_top_level_one() -> None:
    nested = b'{"metadata": {"model": "decoy"}, "model": "gpt-4o"}'
    escaped = b'{"model": "gpt\\u002d4o"}'
    for body, model in ((nested, "gpt-4o"), (escaped, "gpt-4o")):
        assert AiRequest.of(ApiShape.CHAT, body, None, None).model == model
    assert AiRequest.of(ApiShape.CHAT, b'{"messages": []}', None, None).model is None
    assert AiRequest.of(ApiShape.CHAT, b'{"model": 7}', None, None).model is None
    header = AiRequest.of(ApiShape.CHAT, b'{"model": "a"}', None, "b")
    assert header.model == "b"


def test_a_stream_is_asked_for_usage_once() -> None:
    body = b'{"model": "gpt-4o", "stream": true, "messages": []}'
    request = AiRequest.of(ApiShape.CHAT, body, None, None)
    assert request.stream and request.hide_usage
    sent = orjson.loads(request.body_for(None) or b"")
    assert sent["stream_options"] == {"include_usage": True}
    asked = b'{"model": "m", "stream": true, "stream_options": {"include_usage": true}}'
    request = AiRequest.of(ApiShape.CHAT, asked, None, None)
    assert request.stream and not request.hide_usage and request.body_for(None) == asked
    anthropic = AiRequest.of(ApiShape.MESSAGES, body, None, None)
    assert anthropic.stream and not anthropic.hide_usage  # its streams always carry usage


def test_what_routing_read_is_not_read_again() -> None:
    parsed = parse_body(b'{"model": "x", "max_tokens": 64}')
    request = AiRequest.of(ApiShape.CHAT, b"ignored", parsed, None)
    assert request.model == "x" and request.max_output == 64
