"""Send one request to a backend and stream the answer back, in both directions.

Small bodies with a known length are read first (cheap, and replayable on a
stale keep-alive connection); anything larger or chunked is streamed through
with a running size check. The backend's answer is written to the client
chunk by chunk as it arrives, so server-sent events pass event by event.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from aiohttp import web

from data_plane.errors import UnsafeHeaderValue
from data_plane.metrics import (
    FAILOVERS,
    RETRIES,
    count_ejection,
    count_response_bytes,
    observe_upstream,
)
from data_plane.proxy.errors import error_response
from data_plane.proxy.exchange import ExchangeRecord
from data_plane.proxy.headers import downstream_headers, upstream_head
from data_plane.runtime.routes import CompiledRoute
from data_plane.security.guard import Pass
from data_plane.upstream.http1 import (
    ConnectFailed,
    Http1Connection,
    PoolLimits,
    PoolOverflow,
    ResetBeforeResponse,
    UpstreamError,
    UpstreamPool,
    write_body,
)
from data_plane.upstream.pools import UpstreamPools
from data_plane.upstream.retry_budget import RetryBudget
from data_plane.upstream.targets import Target

log = logging.getLogger("ai_gateway.data_plane.proxy")

BUFFER_LIMIT = (
    1 << 20
)  # bodies up to this size (with Content-Length) are read: cheap, and replayable on retry


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ForwardOptions:
    max_body_bytes: int


class _LimitedBody:
    """Stream the client's body upstream, stopping at the limit."""

    def __init__(self, request: web.BaseRequest, limit: int) -> None:
        self._request = request
        self.limit = limit
        self.exceeded = False
        self.seen = 0  # bytes read so far

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._request.content.iter_any():
            self.seen += len(chunk)
            if self.seen > self.limit:
                self.exceeded = True
                raise BodyTooLarge
            yield chunk


def _too_large(limit: int, request_id: str) -> web.Response:
    return error_response(
        413,
        "request_too_large",
        f"the request body is over the limit of {limit} bytes",
        request_id=request_id,
    )


async def _exchange(
    pool: UpstreamPool,
    head: bytes,
    body: bytes | _LimitedBody | None,
    chunked: bool,
    connect_timeout: float,
    limits: PoolLimits,
) -> Http1Connection:
    """Send the request and wait for the response head; one more try when a reused connection was stale."""
    for attempt in (1, 2):
        connection, reused = await pool.acquire(connect_timeout, limits)
        try:
            if isinstance(body, _LimitedBody):
                connection.write(head)
                await write_body(connection, body.chunks(), chunked)
            else:
                connection.write(head + body if body else head)
            await connection.response_head()
            return connection
        except ResetBeforeResponse:
            connection.close()
            replayable = not isinstance(body, _LimitedBody)
            if attempt == 1 and reused and replayable and not connection.got_bytes:
                continue  # the backend closed an idle connection as we picked it up
            raise
        except BaseException:
            connection.close()
            raise
    raise AssertionError("unreachable")


async def forward(
    request: web.BaseRequest,
    pools: UpstreamPools,
    route: CompiledRoute,
    path: str,
    *,
    request_id: str,
    peer_ip: str,  # the hop that connected to us: appended to X-Forwarded-For
    options: ForwardOptions,
    admitted: Pass | None,
    budget: RetryBudget,
    exchange: ExchangeRecord,
) -> web.StreamResponse:
    """Try targets until one answers: another target after a failure, while retries are allowed."""
    limit = options.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        return _too_large(limit, request_id)
    body: bytes | _LimitedBody | None = None
    if request.body_exists:
        if length is not None and length <= BUFFER_LIMIT:
            body = await request.read()
        else:
            body = _LimitedBody(request, limit)
    budget.active_requests += 1
    try:
        return await _attempts(
            exchange,
            request,
            pools,
            route,
            path,
            body,
            budget,
            request_id=request_id,
            peer_ip=peer_ip,
            admitted=admitted,
        )
    finally:
        budget.active_requests -= 1
        exchange.request_bytes = body.seen if isinstance(body, _LimitedBody) else len(body or b"")


async def _attempts(
    exchange: ExchangeRecord,
    request: web.BaseRequest,
    pools: UpstreamPools,
    route: CompiledRoute,
    path: str,
    body: bytes | _LimitedBody | None,
    budget: RetryBudget,
    *,
    request_id: str,
    peer_ip: str,
    admitted: Pass | None,
) -> web.StreamResponse:
    query = request.raw_path.partition("?")[2]
    length = request.content_length
    streamed = isinstance(body, _LimitedBody)  # read once, so never replayed
    chunked = streamed and length is None
    retries = route.retries
    attempts = 1 if streamed else retries.attempts
    timeout = retries.per_try_timeout or route.timeouts.first_byte
    tried: set[int] = set()
    failure: web.StreamResponse | None = None
    overflowed = False
    key = _hash_key(request, route, admitted)
    for attempt in range(attempts):
        target = route.upstream.pick(frozenset(tried), key)
        if target is None:
            break
        if attempt and not budget.allows_retry():
            log.debug("route %s: retry budget spent (%d retries in flight)", route.name,
                      budget.active_retries)  # fmt: skip
            break
        tried.add(id(target))
        exchange.target, exchange.retries = target.url, attempt
        try:
            head = upstream_head(
                request.method,
                target.base_path + path + (f"?{query}" if query else ""),
                request.headers,
                host=target.host_header,
                client_ip=peer_ip,
                scheme=request.scheme,
                request_id=request_id,
                content_length=length if body is not None and not chunked else None,
                chunked=chunked,
                consumer=admitted.consumer if admitted else None,
                drop=admitted.drop_headers if admitted else (),
            )
        except UnsafeHeaderValue as exc:
            log.error("route %s: %s", route.name, exc)
            return error_response(
                502,
                "unsafe_upstream_request",
                f"route {route.name}: the gateway refused to write a control character "
                "into the request to the backend",
                request_id=request_id,
            )
        pool = pools.for_target(target)
        if attempt:
            budget.active_retries += 1
            RETRIES.labels(route.name).inc()
        sent_at = time.perf_counter()
        target.health.in_flight += 1
        try:
            async with asyncio.timeout(timeout):  # from the start, connect included
                connection = await _exchange(
                    pool, head, body, chunked, route.timeouts.connect, route.pool_limits
                )
        except PoolOverflow as exc:
            log.debug("route %s: %s", route.name, exc)
            overflowed = True  # not the backend's fault: no ejection, another target may take it
            continue
        except (BodyTooLarge, TimeoutError, UpstreamError, OSError) as exc:
            if isinstance(body, _LimitedBody) and body.exceeded:
                return _too_large(body.limit, request_id)
            _count_failure(route, target, time.monotonic())
            observe_upstream(route.name, target.url, None, None)
            failure = _failure(exc, route, target, request_id)
            if isinstance(exc, TimeoutError) and retries.per_try_timeout is None:
                return failure  # the route's first-byte timeout is for the whole request
            continue
        finally:
            target.health.in_flight -= 1  # counted again below while the answer streams
            if attempt:
                budget.active_retries -= 1
        status = connection.status
        exchange.upstream_seconds = time.perf_counter() - sent_at
        observe_upstream(route.name, target.url, status, exchange.upstream_seconds)
        now = time.monotonic()
        last = attempt == attempts - 1
        if status == 429:
            cooled = _cool(target, connection.headers, now, route)
            if cooled and not last and route.upstream.has_alternative(tried):
                pool.release(connection)  # kept when its body was all read, closed otherwise
                continue
        elif status >= 500:
            _count_failure(route, target, now)
            if status in retries.on_statuses and not last and route.upstream.has_alternative(tried):
                pool.release(connection)  # kept when its body was all read, closed otherwise
                continue
        else:
            target.health.succeeded()
        if target.priority > route.upstream.top_priority:
            FAILOVERS.labels(route.name).inc()
        target.health.in_flight += 1
        try:
            return await _relay(
                request,
                connection,
                route,
                request_id,
                admitted.response_headers if admitted else None,
                exchange,
            )
        finally:
            target.health.in_flight -= 1
            pool.release(connection)
    if failure is not None:
        return failure
    if overflowed or any(route.upstream.saturated(t) for t in route.upstream.targets):
        return error_response(
            503,
            "upstream_overloaded",
            f"route {route.name}: its backends are at their concurrency limit",
            request_id=request_id,
            headers={"Retry-After": "1"},
        )
    return error_response(
        503,
        "no_healthy_upstream",
        f"route {route.name}: no healthy backend is available",
        request_id=request_id,
        headers={"Retry-After": "1"},
    )


def _count_failure(route: CompiledRoute, target: Target, now: float) -> None:
    if route.upstream.failed(target, now):
        count_ejection(target.url)


def _hash_key(request: web.BaseRequest, route: CompiledRoute, admitted: Pass | None) -> str | None:
    if route.hash_on is None:
        return None
    if route.hash_on == "consumer":
        return admitted.consumer if admitted and admitted.consumer else None
    return request.headers.get(route.hash_on)


def _cool(target: Target, headers: list[tuple[str, str]], now: float, route: CompiledRoute) -> bool:
    """A 429 with Retry-After rests the target that long, when it is not the route's only one."""
    if len(route.upstream.targets) < 2:
        return False
    value = next((v for k, v in headers if k.lower() == "retry-after"), None)
    seconds = retry_after_seconds(value) if value is not None else None
    if seconds is None:
        return False
    target.health.cool(now, seconds)
    return True


def retry_after_seconds(value: str) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date (RFC 9110)."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _failure(exc: Exception, route: CompiledRoute, target: Target, request_id: str) -> web.Response:
    """An upstream that gave no answer: 504 when it was too slow, 502 otherwise."""
    if isinstance(exc, TimeoutError):
        status, code = 504, "upstream_timeout"
        message = f"the backend did not answer within {route.timeouts.first_byte:g}s"
    elif isinstance(exc, ConnectFailed):
        status, code, message = 502, "upstream_unreachable", "cannot connect to the backend"
    else:
        status, code, message = 502, "upstream_reset", "the backend closed the connection"
    log.debug("route %s: backend %s failed: %r", route.name, target.origin, exc)
    return error_response(status, code, f"route {route.name}: {message}", request_id=request_id)


async def _relay(
    request: web.BaseRequest,
    upstream: Http1Connection,
    route: CompiledRoute,
    request_id: str,
    extra_headers: dict[str, str] | None,
    exchange: ExchangeRecord,
) -> web.StreamResponse:
    headers = downstream_headers(upstream.headers)
    headers["X-Request-Id"] = request_id
    if extra_headers:
        headers.update(extra_headers)
    whole = upstream.take_whole_body() if request.method != "HEAD" else None
    if whole is not None:  # already all here: one write to the client
        headers.popall("Content-Length", None)
        count_response_bytes(route.name, len(whole))
        exchange.response_bytes = len(whole)
        return web.Response(
            status=upstream.status, reason=upstream.reason or None, headers=headers, body=whole
        )
    response = web.StreamResponse(
        status=upstream.status, reason=upstream.reason or None, headers=headers
    )
    await response.prepare(request)
    if request.method == "HEAD":
        upstream.close()  # the parser would wait for a body a HEAD answer does not have
        return response
    loop = asyncio.get_running_loop()
    idle = route.timeouts.idle
    sent = 0
    try:
        async with asyncio.timeout(None) as deadline:
            while True:
                deadline.reschedule(loop.time() + idle)
                chunk = await upstream.read_chunk()
                if not chunk:
                    break
                sent += len(chunk)
                await response.write(chunk)
    except TimeoutError:
        log.warning("route %s: backend idle for %gs mid-response; cut", route.name, idle)
        return await _end_broken_stream(
            request,
            upstream,
            response,
            "upstream_idle_timeout",
            f"the backend sent nothing for {idle:g}s",
        )
    except UpstreamError as exc:
        log.warning("route %s: %s", route.name, exc)
        return await _end_broken_stream(
            request,
            upstream,
            response,
            "upstream_reset",
            "the backend closed the connection mid-response",
        )
    except BaseException:
        upstream.close()  # the client went away: the backend request ends with it
        raise
    finally:
        # Counted once, whether the stream ended well or not.
        exchange.response_bytes = sent
        count_response_bytes(route.name, sent)
    await response.write_eof()
    return response


async def _end_broken_stream(
    request: web.BaseRequest,
    upstream: Http1Connection,
    response: web.StreamResponse,
    code: str,
    message: str,
) -> web.StreamResponse:
    """A stream cut after its headers went out cannot be retried.

    Server-sent events end with a well-formed ``event: error`` so the client's
    SSE parser learns why; any other body is cut by closing the connection,
    the only honest signal left once headers are out.
    """
    upstream.close()
    if response.headers.get("Content-Type", "").startswith("text/event-stream"):
        event = orjson.dumps({"error": {"message": message, "type": "gateway_error", "code": code}})
        try:
            await response.write(b"\n\nevent: error\ndata: " + event + b"\n\n")
            await response.write_eof()
            return response
        except (ConnectionError, RuntimeError):
            pass
    return _abort(request, upstream, response)


def _abort(
    request: web.BaseRequest, upstream: Http1Connection, response: web.StreamResponse
) -> web.StreamResponse:
    """Headers are out: the only honest signal left is closing the connection."""
    upstream.close()
    transport = request.transport
    if transport is not None:
        transport.close()
    return response
