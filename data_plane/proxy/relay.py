"""The backend's answer to the client, chunk by chunk as it arrives, with observers watching.

A body already whole when its head arrived (the usual small JSON answer) goes
out in one write. Anything else streams: each chunk is written to the client
as it comes, so server-sent events pass event by event, and reading from the
backend pauses while the client is slower. The observers attached to the
exchange see the head, each chunk after it went out, and the end or the cut.
An editor (at most one, ``exchange.editor``) may change the chunks on their way:
the AI meter keeps back the usage chunk a client did not ask for.

Nothing is retried once the first byte went to the client. A stream that the
backend cuts, stalls on (the route's ``idle`` timeout) or that runs past the
route's ``total`` timeout ends, for ``text/event-stream``, with a well-formed
``event: error``; any other body is cut by closing the connection, the only
honest signal left once the head is out. An observer may end a stream the same way
(``exchange.cut``: a token budget spent mid-stream). A client that leaves aborts the
backend's request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import orjson
from aiohttp import web

from data_plane.filters.upstream import UpstreamAnswer
from data_plane.proxy.exchange import Exchange
from data_plane.runtime.routes import CompiledRoute
from data_plane.upstream.http1 import UpstreamError

log = logging.getLogger("ai_gateway.data_plane.proxy")


async def relay(exchange: Exchange, answer: UpstreamAnswer) -> web.StreamResponse:
    route = exchange.route
    assert route is not None
    answer.target.health.started()
    try:
        return await _relay(exchange, answer, route)
    finally:
        answer.target.health.finished()
        answer.pool.release(answer.connection)


async def _relay(
    exchange: Exchange, answer: UpstreamAnswer, route: CompiledRoute
) -> web.StreamResponse:
    request, upstream, observers = exchange.request, answer.connection, exchange.observers
    whole = upstream.take_whole_body() if request.method != "HEAD" else None
    if whole is not None:  # already all here: one write to the client
        answer.headers.popall("Content-Length", None)
    for observer in observers:
        observer.on_headers(exchange, answer.status, answer.headers)
    editor = exchange.editor
    if whole is not None:
        if editor is not None:
            whole = editor.edit(whole) + editor.flush()
        answer.content_length = len(whole)
    await answer.prepare(request)  # the head waits for the body's first bytes (one write)
    if whole is not None or request.method == "HEAD":
        await answer.write_eof(whole or b"")  # with the head, in one write
        if whole:
            _counted(exchange, route, len(whole))
            for observer in observers:
                observer.on_chunk(exchange, whole)
        for observer in observers:
            observer.on_end(exchange)
        return answer
    request.writer.send_headers()  # a stream's head goes now: its first event may take a while
    return await _stream(exchange, answer, route)


async def _stream(
    exchange: Exchange, answer: UpstreamAnswer, route: CompiledRoute
) -> web.StreamResponse:
    upstream, observers, editor = answer.connection, exchange.observers, exchange.editor
    loop = asyncio.get_running_loop()
    idle, total = route.timeouts.idle, route.timeouts.total
    ends_at = loop.time() + total - (time.perf_counter() - exchange.started) if total else math.inf
    sent = 0
    total_set = False
    try:
        async with asyncio.timeout(None) as deadline:
            while True:
                idle_ends = loop.time() + idle
                # Which deadline is set, decided here: the loop may fire a timer up to its
                # clock resolution early, so the time when it fires cannot tell.
                total_set = ends_at <= idle_ends
                deadline.reschedule(ends_at if total_set else idle_ends)
                chunk = await upstream.read_chunk()
                last = not chunk
                if editor is not None:  # at the end, what it held back
                    chunk = editor.flush() if last else editor.edit(chunk)
                if chunk:
                    sent += len(chunk)
                    await answer.write(chunk)
                    for observer in observers:
                        observer.on_chunk(exchange, chunk)
                if last or exchange.cut is not None:
                    break
    except TimeoutError:
        if total_set:
            log.warning(
                "route %s: the stream ran past its total timeout of %gs; cut", route.name, total
            )
            return await _cut(exchange, answer, "upstream_total_timeout",
                              f"the request ran past its total timeout of {total:g}s")  # fmt: skip
        log.warning("route %s: backend idle for %gs mid-response; cut", route.name, idle)
        return await _cut(
            exchange, answer, "upstream_idle_timeout", f"the backend sent nothing for {idle:g}s"
        )
    except UpstreamError as exc:
        log.warning("route %s: %s", route.name, exc)
        return await _cut(
            exchange, answer, "upstream_reset", "the backend closed the connection mid-response"
        )
    except BaseException:
        upstream.close()  # the client went away: the backend's request ends with it
        for observer in observers:
            observer.on_abort(exchange, "client_disconnected")
        raise
    finally:
        _counted(exchange, route, sent)  # once, whether the stream ended well or not
    if exchange.cut is not None:  # an observer ended it (a token budget spent mid-stream)
        return await _cut(exchange, answer, *exchange.cut)
    await answer.write_eof()
    for observer in observers:
        observer.on_end(exchange)
    return answer


def _counted(exchange: Exchange, route: CompiledRoute, size: int) -> None:
    exchange.response_bytes = size
    route.metrics.response_bytes(size)


async def _cut(
    exchange: Exchange, answer: UpstreamAnswer, code: str, message: str
) -> web.StreamResponse:
    """A stream cut after its head went out cannot be retried: SSE ends with an error event."""
    answer.connection.close()
    exchange.error = code
    for observer in exchange.observers:
        observer.on_abort(exchange, code)
    if answer.headers.get("Content-Type", "").startswith("text/event-stream"):
        event = orjson.dumps({"error": {"message": message, "type": "gateway_error", "code": code}})
        try:
            await answer.write(b"\n\nevent: error\ndata: " + event + b"\n\n")
            await answer.write_eof()
            return answer
        except (ConnectionError, RuntimeError):
            pass
    transport = exchange.request.transport
    if transport is not None:
        transport.close()
    return answer
