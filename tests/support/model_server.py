"""A fake OpenAI- and Anthropic-compatible model server for the gateway's AI tests (a process).

It answers ``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and
``/v1/messages`` as the real APIs do, streamed (``"stream": true``) or not, and
reports known usage: ``PROMPT_TOKENS`` input tokens (``CACHED_TOKENS`` of them
cached), one output token per content event (``REASONING_TOKENS`` of them
reasoning). Usage is in an OpenAI stream only when the request asked for it
(``stream_options.include_usage``), as OpenAI does. The request tunes the answer:

  x-test-tokens: N         output tokens (default 5)
  x-test-first-delay: S    seconds before the first token (default 0)
  x-test-pace: S           seconds between tokens (default 0)
  x-test-cut-after: K      reset the connection after K tokens of a stream
  x-test-no-usage: 1       never report usage

The body's model (as it arrives) can make a chat request fail, for fallback tests:
``fail-429...`` answers 429 (Retry-After: 1), ``fail-503...`` 503, ``ctx-...`` OpenAI's
400 ``context_length_exceeded``, and ``slow-...`` waits 5 s before answering.

``GET /last`` answers the last model request as received: headers and JSON body;
``GET /seen`` the models of every chat request received, in order. ``GET /metrics``
reports a vLLM or SGLang server's load (``$MODEL_SERVER_METRICS``), set by ``POST /load``.
The answer's ``model`` is ``$MODEL_SERVER_MODEL`` when set, else the request's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
from typing import Any

from aiohttp import web

from tests.support.ready import announce

PROMPT_TOKENS = 17
CACHED_TOKENS = 5
REASONING_TOKENS = 2
LAST: dict[str, Any] = {}


def _options(request: web.Request) -> tuple[int, float, float, int | None, bool]:
    headers = request.headers
    cut = headers.get("x-test-cut-after")
    return (
        int(headers.get("x-test-tokens", "5")),
        float(headers.get("x-test-first-delay", "0")),
        float(headers.get("x-test-pace", "0")),
        int(cut) if cut is not None else None,
        headers.get("x-test-no-usage") == "1",
    )


def _model(body: dict[str, Any]) -> str:
    return os.environ.get("MODEL_SERVER_MODEL") or str(body.get("model"))


SEEN: list[str] = []


async def _received(request: web.Request) -> dict[str, Any]:
    body: dict[str, Any] = await request.json()
    LAST.clear()
    LAST.update({"path": request.path, "headers": dict(request.headers), "body": body})
    return body


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
        status=status,
        headers=headers,
    )


async def _failure(model: str) -> web.Response | None:
    """The failure a model name asks for (see the module's docstring), or None."""
    if model.startswith("fail-429"):
        return _error(429, "rate_limit_exceeded", "Rate limit reached", **{"Retry-After": "1"})
    if model.startswith("fail-503"):
        return _error(503, "overloaded", "The server is overloaded")
    if model.startswith("ctx-"):
        return _error(
            400,
            "context_length_exceeded",
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9000 tokens. Please reduce the length of the messages.",
        )
    if model.startswith("slow-"):
        await asyncio.sleep(5)
    return None


async def _events(
    request: web.Request,
    events: list[bytes],
    first_delay: float,
    pace: float,
    cut: int | None,
    content_at: set[int],
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    tokens = 0
    for index, event in enumerate(events):
        if index in content_at:
            await asyncio.sleep(first_delay if tokens == 0 else pace)
            if cut is not None and tokens == cut:
                assert request.transport is not None
                request.transport.abort()
                return response
            tokens += 1
        await response.write(event)
    await response.write_eof()
    return response


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _openai_usage(output: int) -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": output,
        "total_tokens": PROMPT_TOKENS + output,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
    }


async def chat(request: web.Request) -> web.StreamResponse:
    body = await _received(request)
    SEEN.append(str(body.get("model")))
    failed = await _failure(str(body.get("model")))
    if failed is not None:
        return failed
    count, first_delay, pace, cut, no_usage = _options(request)
    model = _model(body)
    text = [f"tok{i} " for i in range(count)]
    completions = request.path.endswith("/v1/completions")
    if not body.get("stream"):
        choice: dict[str, Any] = (
            {"index": 0, "text": "".join(text), "finish_reason": "stop"}
            if completions
            else {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(text)},
                "finish_reason": "stop",
            }
        )
        await asyncio.sleep(first_delay)
        answer: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "text_completion" if completions else "chat.completion",
            "created": 1,
            "model": model,
            "choices": [choice],
        }
        if not no_usage:
            answer["usage"] = _openai_usage(count)
        return web.json_response(answer)
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
    events = []
    if not completions:
        events.append(
            _sse(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ],
                }
            )
        )
    content_at = set()
    for piece in text:
        content_at.add(len(events))
        choice = (
            {"index": 0, "text": piece, "finish_reason": None}
            if completions
            else {"index": 0, "delta": {"content": piece}, "finish_reason": None}
        )
        events.append(_sse({**base, "choices": [choice]}))
    events.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    options = body.get("stream_options") or {}
    if options.get("include_usage") and not no_usage:
        events.append(_sse({**base, "choices": [], "usage": _openai_usage(count)}))
    events.append(b"data: [DONE]\n\n")
    return await _events(request, events, first_delay, pace, cut, content_at)


async def embeddings(request: web.Request) -> web.Response:
    body = await _received(request)
    return web.json_response(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": _model(body),
            "usage": {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS},
        }
    )


async def messages(request: web.Request) -> web.StreamResponse:
    body = await _received(request)
    count, first_delay, pace, cut, no_usage = _options(request)
    model = _model(body)
    fresh = PROMPT_TOKENS - CACHED_TOKENS
    text = [f"tok{i} " for i in range(count)]
    usage = {
        "input_tokens": fresh,
        "output_tokens": count,
        "cache_read_input_tokens": CACHED_TOKENS,
        "cache_creation_input_tokens": 0,
    }
    if not body.get("stream"):
        await asyncio.sleep(first_delay)
        answer = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(text)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        return web.json_response(answer)
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        },
    }
    events = [
        _sse(start, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
    ]
    content_at = set()
    for piece in text:
        content_at.add(len(events))
        events.append(
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
                "content_block_delta",
            )
        )
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    }
    if not no_usage:
        delta["usage"] = {"output_tokens": count}
    events.append(_sse(delta, "message_delta"))
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return await _events(request, events, first_delay, pace, cut, content_at)


async def seen(request: web.Request) -> web.Response:
    return web.json_response(SEEN)


async def last(_request: web.Request) -> web.Response:
    return web.json_response(LAST)


# What /metrics reports, as a vLLM or SGLang server would ($MODEL_SERVER_METRICS names
# which; unset: no /metrics). POST /load sets it: {"waiting", "running", "kvCache"}, or
# {"gone": true} for a /metrics that answers 404.
LOAD: dict[str, Any] = {"waiting": 0, "running": 0, "kvCache": 0.0, "gone": False}
_NAMES = {
    "vllm": ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"),
    "vllm-old": ("vllm:num_requests_waiting", "vllm:num_requests_running",
                 "vllm:gpu_cache_usage_perc"),
    "sglang": ("sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage"),
}  # fmt: skip


async def metrics(_request: web.Request) -> web.Response:
    flavor = os.environ.get("MODEL_SERVER_METRICS", "")
    if flavor not in _NAMES or LOAD["gone"]:
        return web.Response(status=404, text="no metrics here")
    waiting, running, kv = _NAMES[flavor]
    labels = '{model_name="m, with {braces} and spaces",engine="0"}'
    lines = [
        "# HELP process_cpu_seconds_total Total user and system CPU time.",
        "# TYPE process_cpu_seconds_total counter",
        "process_cpu_seconds_total 12.5",
        f"# HELP {waiting} Requests waiting.",
        f"# TYPE {waiting} gauge",
        f"{waiting}{labels} {LOAD['waiting']}",
        f"{running}{labels} {LOAD['running']}",
        f"{kv}{labels} {LOAD['kvCache']}",
        *(f'vllm:e2e_request_latency_seconds_bucket{{le="{b}"}} 3' for b in range(200)),
        f"{waiting}_created 1.7e9",
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def set_load(request: web.Request) -> web.Response:
    LOAD.update(await request.json())
    return web.json_response(LOAD)


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/last", last)
    app.router.add_get("/seen", seen)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/load", set_load)
    return app


async def serve(ready_file: str) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    announce(ready_file, sock.getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    asyncio.run(serve(parser.parse_args().ready_file))
