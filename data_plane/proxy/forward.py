"""Send one request to a backend and stream the answer back, in both directions.

Small bodies with a known length are read first (cheap, and replayable);
anything larger or chunked is streamed through with a running size check.
The backend's answer is written to the client chunk by chunk as it arrives,
so server-sent events pass event by event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from data_plane.proxy.errors import error_response
from data_plane.proxy.headers import end_to_end, upstream_request_headers
from data_plane.runtime.routes import CompiledRoute
from data_plane.upstream.targets import Target

log = logging.getLogger("ai_gateway.data_plane.proxy")

BUFFER_LIMIT = 64 * 1024  # bodies up to this size (with Content-Length) are read, not streamed


class BodyTooLarge(Exception):
    pass


class _LimitedBody:
    """Stream the client's body upstream, stopping at the limit.

    The client library wraps errors raised while it sends a body, so the
    verdict is kept here for the caller to read.
    """

    def __init__(self, request: web.BaseRequest, limit: int) -> None:
        self._request = request
        self._limit = limit
        self.exceeded = False

    async def chunks(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._request.content.iter_any():
            seen += len(chunk)
            if seen > self._limit:
                self.exceeded = True
                raise BodyTooLarge
            yield chunk


@dataclass(frozen=True, slots=True)
class ForwardOptions:
    max_body_bytes: int


def _too_large(limit: int, request_id: str) -> web.Response:
    return error_response(
        413,
        "request_too_large",
        f"the request body is over the limit of {limit} bytes",
        request_id=request_id,
    )


async def forward(
    request: web.BaseRequest,
    session: aiohttp.ClientSession,
    route: CompiledRoute,
    target: Target,
    path: str,
    *,
    request_id: str,
    client_ip: str,
    options: ForwardOptions,
) -> web.StreamResponse:
    limit = options.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        return _too_large(limit, request_id)
    body: bytes | AsyncIterator[bytes] | None = None
    streamed: _LimitedBody | None = None
    if request.body_exists:
        if length is not None and length <= BUFFER_LIMIT:
            body = await request.read()
        else:
            streamed = _LimitedBody(request, limit)
            body = streamed.chunks()
    query = request.raw_path.partition("?")[2]
    url = target.origin + target.base_path + path + (f"?{query}" if query else "")
    headers = upstream_request_headers(
        request.headers,
        client_ip=client_ip,
        scheme=request.scheme,
        upstream_host=target.origin.split("://", 1)[1],
        request_id=request_id,
    )
    if length is not None and body is not None:
        headers["Content-Length"] = str(length)
    timeouts = route.timeouts
    client_timeout = aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect, sock_read=None
    )
    try:
        async with asyncio.timeout(timeouts.first_byte):  # from the start, connect included
            upstream = await session.request(
                request.method,
                url,
                headers=headers,
                data=body,
                timeout=client_timeout,
                allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            )
    except (BodyTooLarge, TimeoutError, aiohttp.ClientError, OSError) as exc:
        if streamed is not None and streamed.exceeded:
            return _too_large(limit, request_id)
        return _failure(exc, route, target, request_id)
    try:
        return await _relay(request, upstream, route, request_id)
    finally:
        upstream.release()


def _failure(exc: Exception, route: CompiledRoute, target: Target, request_id: str) -> web.Response:
    """An upstream that gave no answer: 504 when it was too slow, 502 otherwise."""
    if isinstance(exc, TimeoutError):
        status, code = 504, "upstream_timeout"
        message = f"the backend did not answer within {route.timeouts.first_byte:g}s"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        status, code, message = 502, "upstream_unreachable", "cannot connect to the backend"
    else:
        status, code, message = 502, "upstream_reset", "the backend closed the connection"
    log.debug("route %s: backend %s failed: %r", route.name, target.origin, exc)
    return error_response(status, code, f"route {route.name}: {message}", request_id=request_id)


async def _relay(
    request: web.BaseRequest,
    upstream: aiohttp.ClientResponse,
    route: CompiledRoute,
    request_id: str,
) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    response.headers.update(end_to_end(upstream.headers))
    response.headers["X-Request-Id"] = request_id
    if upstream.headers.get("Content-Length") is None:
        response.headers.popall("Content-Length", None)
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    idle = route.timeouts.idle
    content = upstream.content
    try:
        async with asyncio.timeout(None) as deadline:
            while True:
                deadline.reschedule(loop.time() + idle)
                chunk = await content.readany()
                if not chunk:
                    break
                await response.write(chunk)
    except TimeoutError:
        log.warning("route %s: backend idle for %gs mid-response; cut", route.name, idle)
        upstream.close()
        _abort(request)
        return response
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        log.warning("route %s: backend broke off mid-response: %r", route.name, exc)
        upstream.close()
        _abort(request)
        return response
    await response.write_eof()
    return response


def _abort(request: web.BaseRequest) -> None:
    """Headers are out: the only honest signal left is closing the connection."""
    transport = request.transport
    if transport is not None:
        transport.close()
