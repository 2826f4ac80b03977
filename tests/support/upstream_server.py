"""A real HTTP backend for gateway tests, run as its own process.

/echo/...                 echoes method, path, query, headers and body as JSON
/sse?n=5&delay=0.05       n server-sent events, `delay` seconds apart
/slow?delay=2             answers after `delay` seconds
/stall?after=2&n=5        sends `after` events, then stalls until the client goes away
/hold                     holds the request until the client disconnects
/stats                    {"held": requests held now, "released": holds ended by a disconnect}
/jwks.json                the key set in $UPSTREAM_JWKS; POST /jwks-hang makes it hang from then on
/sse-cut?n=3              n events, then the connection is reset

$UPSTREAM_MODE makes every other path misbehave: ``reset`` (close before answering),
``fail503`` (503), ``limit429`` (429 with Retry-After: $UPSTREAM_RETRY_AFTER).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.support.ready import announce

STATE = {"held": 0, "released": 0, "jwks_fetches": 0, "requests": 0, "jwks_hang": 0}


@web.middleware
async def misbehave(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != "/stats":
        STATE["requests"] += 1
    mode = os.environ.get("UPSTREAM_MODE", "")
    if request.path == "/stats" or not mode:
        return await handler(request)
    if mode == "reset":
        assert request.transport is not None
        request.transport.abort()
        raise asyncio.CancelledError
    if mode == "fail503":
        return web.json_response({"error": "down"}, status=503)
    return web.json_response(
        {"error": "slow down"},
        status=429,
        headers={"Retry-After": os.environ.get("UPSTREAM_RETRY_AFTER", "5")},
    )


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query": request.query_string,
            "headers": {k: v for k, v in request.headers.items()},
            "body_length": len(body),
            "body": body[:1024].decode("utf-8", "replace"),
            "server": os.environ.get("UPSTREAM_NAME", ""),
        }
    )


async def sse(request: web.Request) -> web.StreamResponse:
    count = int(request.query.get("n", "5"))
    delay = float(request.query.get("delay", "0.05"))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for index in range(count):
        await response.write(f"data: {json.dumps({'index': index})}\n\n".encode())
        await asyncio.sleep(delay)
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("delay", "2")))
    return web.json_response({"slow": True})


async def _wait_for_disconnect(request: web.Request) -> None:
    STATE["held"] += 1
    try:
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.02)
    finally:
        STATE["held"] -= 1
        STATE["released"] += 1


async def stall(request: web.Request) -> web.StreamResponse:
    after = int(request.query.get("after", "2"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for index in range(after):
        await response.write(f"data: {index}\n\n".encode())
    await _wait_for_disconnect(request)
    return response


async def hold(request: web.Request) -> web.Response:
    await _wait_for_disconnect(request)
    return web.json_response({"held": True})


async def jwks(_request: web.Request) -> web.Response:
    """The key set in $UPSTREAM_JWKS (a file), for JWT tests; it hangs after /jwks-hang."""
    STATE["jwks_fetches"] += 1
    if STATE["jwks_hang"]:
        await asyncio.sleep(60)
    return web.Response(
        text=Path(os.environ["UPSTREAM_JWKS"]).read_text(), content_type="application/json"
    )


async def sse_cut(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for index in range(int(request.query.get("n", "3"))):
        await response.write(f"data: {index}\n\n".encode())
    await asyncio.sleep(0.05)
    assert request.transport is not None
    request.transport.abort()
    return response


async def unicode_header(_request: web.Request) -> web.Response:
    """A header value in UTF-8, as model servers send model or file names."""
    return web.Response(text="ok", headers={"X-Model-Name": "Mistral-café-7B"})


async def jwks_hang(_request: web.Request) -> web.Response:
    STATE["jwks_hang"] = 1
    return web.json_response(STATE)


async def stats(_request: web.Request) -> web.Response:
    return web.json_response(STATE)


def build_app() -> web.Application:
    app = web.Application(client_max_size=64 << 20, middlewares=[misbehave])
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_get("/sse", sse)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stall", stall)
    app.router.add_get("/hold", hold)
    app.router.add_get("/stats", stats)
    app.router.add_get("/unicode-header", unicode_header)
    app.router.add_get("/jwks.json", jwks)
    app.router.add_post("/jwks-hang", jwks_hang)
    app.router.add_get("/sse-cut", sse_cut)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def serve(
    ready_file: str, port: int, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> None:
    sock = socket.create_server((host, port), reuse_port=False)
    runner = web.AppRunner(build_app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=tls).start()
    announce(ready_file, sock.getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    asyncio.run(serve(args.ready_file, args.port, context, args.host))
