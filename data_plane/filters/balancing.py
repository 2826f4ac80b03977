"""Which backend, and what when it fails: balancing, retries, failover and passive health.

Each try goes to a target the route's ``UpstreamGroup`` picks (never one already
tried). A try fails over to another target on a connection failure, a reset
before the answer, or a status in ``retries.onStatuses``, while the body can
be replayed and the retry budget allows it; a 429 with Retry-After rests its
target and tries another. Failures count toward the target's ejection; a full
target (its circuit breaker) is skipped without counting as a failure.

Deadlines run from the request's arrival: the route's ``firstByte`` covers
every try together; ``perTryTimeout`` bounds each try, whose expiry is retried;
``total`` bounds the whole exchange, stream included (the relay enforces it
once the head is out).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time

from aiohttp import web

from data_plane.ai.prompt_prefix import prompt_prefix
from data_plane.ai.usage import estimate_tokens
from data_plane.errors import UnsafeHeaderValue
from data_plane.filters import Next
from data_plane.filters.body import BodyPolicy, BodyTooLarge
from data_plane.filters.upstream import UpstreamAnswer
from data_plane.metrics import count_ejection
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.runtime.routes import CompiledRoute
from data_plane.upstream.http1 import ConnectFailed, UpstreamError
from data_plane.upstream.pool import PoolOverflow
from data_plane.upstream.retry_budget import RetryBudget
from data_plane.upstream.targets import Target, UpstreamGroup

log = logging.getLogger("ai_gateway.data_plane.proxy")


class _TryTimedOut(Exception):
    """A try ran out of its own time (perTryTimeout): worth a try elsewhere."""


class Balancer:
    """One per process: the route (its targets, policies, timeouts and metrics) is the
    exchange's."""

    def __init__(self, budget: RetryBudget, body: BodyPolicy) -> None:
        self._budget = budget
        self._body = body  # what a body that grew past the limit while streamed is told

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        route = exchange.route
        assert route is not None
        budget = self._budget
        budget.active_requests += 1
        try:
            return await self._tries(exchange, next, route)
        finally:
            budget.active_requests -= 1

    async def _tries(
        self, exchange: Exchange, next: Next, route: CompiledRoute
    ) -> web.StreamResponse:
        budget, metrics, retries = self._budget, route.metrics, route.retries
        fallback = exchange.fallback
        upstream = (
            fallback.upstream if fallback is not None and fallback.upstream else route.upstream
        )
        body = exchange.body
        attempts = 1 if body is not None and not body.replayable else retries.attempts
        key = _hash_key(exchange, route)
        tried: set[int] = set()
        failure: web.StreamResponse | None = None
        overflowed = False
        ai = exchange.ai
        prompt = estimate_tokens(ai.size) if ai is not None else 0
        for attempt in range(attempts):
            target = upstream.pick(frozenset(tried), key)
            while target is not None and target.context_window and prompt > target.context_window:
                tried.add(id(target))  # its model cannot take the prompt: no call made
                failure = _context_too_small(exchange, route, prompt)
                target = upstream.pick(frozenset(tried), key)
            if target is None:
                break
            if attempt and not budget.allows_retry():
                log.debug("route %s: retry budget spent (%d retries in flight)", route.name,
                          budget.active_retries)  # fmt: skip
                break
            tried.add(id(target))
            exchange.target, exchange.target_url, exchange.retries = target, target.url, attempt
            if target.auth_missing:  # not the backend's fault: no ejection; another may serve
                log.error("route %s: %s needs ${%s}, which this data plane's environment lacks",
                          route.name, target.url, target.auth_missing)  # fmt: skip
                failure = refuse(
                    exchange,
                    502,
                    "upstream_credentials_missing",
                    f"route {route.name}: the credential for a backend is not configured on "
                    f"this gateway (environment variable {target.auth_missing})",
                )
                continue
            if attempt:
                budget.active_retries += 1
                metrics.retried()
            try:
                answer = await _try(exchange, next, target, route)
            except PoolOverflow as exc:
                log.debug("route %s: %s", route.name, exc)
                overflowed = True  # not the backend's fault: no ejection; another may take it
                continue
            except BodyTooLarge:
                return self._body.too_large(exchange)
            except UnsafeHeaderValue as exc:
                log.error("route %s: %s", route.name, exc)
                return refuse(
                    exchange,
                    502,
                    "unsafe_upstream_request",
                    f"route {route.name}: the gateway refused to write a control character "
                    "into the request to the backend",
                )
            except (TimeoutError, _TryTimedOut, UpstreamError, OSError) as exc:
                if body is not None and body.exceeded:
                    return self._body.too_large(exchange)
                _failed(upstream, target)
                metrics.upstream(target.url, None, None)
                failure = _failure(exchange, exc, target, route)
                if isinstance(exc, TimeoutError):
                    return failure  # the route's firstByte (or total) deadline: no more tries
                continue
            finally:
                if attempt:
                    budget.active_retries -= 1
            kept = _judge(route, upstream, answer, target, tried, last=attempt == attempts - 1)
            if kept is not None:
                return kept
        if failure is not None:
            return failure
        if overflowed or any(upstream.saturated(t) for t in upstream.targets):
            return refuse(
                exchange,
                503,
                "upstream_overloaded",
                f"route {route.name}: its backends are at their concurrency limit",
                {"Retry-After": "1"},
            )
        return refuse(
            exchange,
            503,
            "no_healthy_upstream",
            f"route {route.name}: no healthy backend is available",
            {"Retry-After": "1"},
        )


async def _try(
    exchange: Exchange, next: Next, target: Target, route: CompiledRoute
) -> web.StreamResponse:
    """One try, within what is left of the firstByte (and total) deadline and, when the route
    sets one, its per-try timeout."""
    timeouts, per_try = route.timeouts, route.retries.per_try_timeout
    now = time.perf_counter()
    # firstByte runs from the first try (a fallback starts it again); total from arrival.
    remaining = timeouts.first_byte - (now - (exchange.attempts_started or exchange.started))
    if timeouts.total is not None:
        remaining = min(remaining, timeouts.total - (now - exchange.started))
    own = per_try is not None and per_try < remaining
    sent_at = time.perf_counter()
    target.health.started()
    try:
        async with asyncio.timeout(per_try if own else max(0.0, remaining)):
            answer = await next(exchange)
    except TimeoutError:
        if own:
            raise _TryTimedOut from None
        raise
    finally:
        target.health.finished()
    exchange.upstream_seconds = time.perf_counter() - sent_at
    route.metrics.upstream(target.url, answer.status, exchange.upstream_seconds)
    return answer


def _judge(
    route: CompiledRoute,
    upstream: UpstreamGroup,
    answer: web.StreamResponse,
    target: Target,
    tried: set[int],
    *,
    last: bool,
) -> web.StreamResponse | None:
    """The answer to relay, or None to try another target (the answer is then dropped)."""
    status = answer.status
    if status == 429:
        if _cool(upstream, target, answer) and not last and upstream.has_alternative(tried):
            _discard(answer)
            return None
    elif status >= 500:
        _failed(upstream, target)
        retryable = status in route.retries.on_statuses
        if retryable and not last and upstream.has_alternative(tried):
            _discard(answer)
            return None
    else:
        target.health.succeeded()
    if target.priority > upstream.top_priority:
        route.metrics.failed_over()
    return answer


def _failed(upstream: UpstreamGroup, target: Target) -> None:
    if upstream.failed(target, time.monotonic()):
        count_ejection(target.url)


def _cool(upstream: UpstreamGroup, target: Target, answer: web.StreamResponse) -> bool:
    """A 429 with Retry-After rests the target that long, when it is not the route's only one."""
    if len(upstream.targets) < 2:
        return False
    value = answer.headers.get("Retry-After")
    seconds = retry_after_seconds(value) if value is not None else None
    if seconds is None:
        return False
    target.health.cool(time.monotonic(), seconds)
    return True


def _hash_key(exchange: Exchange, route: CompiledRoute) -> str | None:
    if route.hash_on is None:
        affinity = route.upstream.prefix_affinity
        ai = exchange.ai
        if affinity and ai is not None and ai.document is not None:
            return prompt_prefix(ai.document, affinity)
        return None
    if route.hash_on == "consumer":
        return exchange.consumer or None
    return exchange.request.headers.get(route.hash_on)


def _failure(
    exchange: Exchange, exc: BaseException, target: Target, route: CompiledRoute
) -> web.Response:
    """A backend that gave no answer: 504 when it was too slow, 502 otherwise."""
    if isinstance(exc, _TryTimedOut):
        status, code = 504, "upstream_timeout"
        message = (
            f"the backend did not answer within {route.retries.per_try_timeout:g}s (perTryTimeout)"
        )
    elif isinstance(exc, TimeoutError):
        status, code = 504, "upstream_timeout"
        total, first_byte = route.timeouts.total, route.timeouts.first_byte
        if total is not None and total < first_byte:
            message = f"the request took over its total timeout of {total:g}s"
        else:
            message = f"the backend did not answer within {first_byte:g}s"
    elif isinstance(exc, ConnectFailed):
        status, code, message = 502, "upstream_unreachable", "cannot connect to the backend"
    else:
        status, code, message = 502, "upstream_reset", "the backend closed the connection"
    log.debug("route %s: backend %s failed: %r", route.name, target.origin, exc)
    return refuse(exchange, status, code, f"route {route.name}: {message}")


def _context_too_small(exchange: Exchange, route: CompiledRoute, prompt: int) -> web.Response:
    return refuse(
        exchange,
        400,
        "context_length_exceeded",
        f"route {route.name}: the prompt (about {prompt} tokens) is longer than the context "
        "window of every backend that could take it",
    )


def _discard(answer: web.StreamResponse) -> None:
    if isinstance(answer, UpstreamAnswer):
        answer.discard()


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
