"""A small model service for demos (``ai-gateway-cli up --demo``), not for production.

POST /predict, /ml-predict      {"prediction": ..., "input": ...}
POST /v1/chat/completions, /chat  OpenAI-style; "stream": true answers with SSE chunks
GET  /v1/models                 the one model it has
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

MODEL = "demo-echo-1"


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"raw": raw[:1000].decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"input": body}


async def predict(request: web.Request) -> web.Response:
    body = await _json_body(request)
    value = body.get("input", body)
    return web.json_response(
        {
            "model": MODEL,
            "input": value,
            "prediction": {"label": "positive", "score": 0.93},
            "path": request.path,
        }
    )


def _reply_words(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages") or [{"content": "hello"}]
    last = str(messages[-1].get("content", "")) if isinstance(messages[-1], dict) else "hello"
    return f"You said: {last}".split()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    words = _reply_words(body)
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
    if not body.get("stream"):
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": " ".join(words)},
                    }
                ],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": len(words),
                    "total_tokens": 5 + len(words),
                },
            }
        )
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for index, word in enumerate(words):
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": word if index == 0 else " " + word},
                    "finish_reason": None,
                }
            ],
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await asyncio.sleep(0.05)
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})


def build_app() -> web.Application:
    app = web.Application()
    for path in ("/predict", "/ml-predict"):
        app.router.add_route("*", path + "{tail:.*}", predict)
    for path in ("/v1/chat/completions", "/chat"):
        app.router.add_post(path + "{tail:.*}", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/healthz", lambda _r: _ok())
    return app


async def _ok() -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(host: str, port: int, ready_file: str | None) -> None:
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    sock = socket.create_server((host, port))
    await web.SockSite(runner, sock).start()
    if ready_file:
        ready = {"port": sock.getsockname()[1], "pid": os.getpid()}
        Path(ready_file + ".tmp").write_text(json.dumps(ready))  # noqa: ASYNC240 - once, at start
        os.replace(ready_file + ".tmp", ready_file)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host or "127.0.0.1", int(port), args.ready_file))


if __name__ == "__main__":
    main()
