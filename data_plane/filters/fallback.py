"""Model fallbacks: when the route's answer is a 429, a 5xx, a timeout or a context-length
error, try the route's ``fallbacks`` in order, each with its model name in the body.

In the AI chain of a route that lists fallbacks, just before the balancer, reading the
route's fallbacks from the exchange (as the balancer reads its targets); routes without
fallbacks do not compose it. Each fallback runs the balancer again, on the
route's own targets with another model, or on the fallback's own target, with a
fresh first-byte deadline (the route's ``total`` still runs from the request's arrival,
and covers the fallbacks). A body that was streamed to the first backend (chunked, or
over the 1 MiB read first) cannot be sent again: such a request gets no fallback. Nothing has reached the client when a fallback is
tried: the relay starts only after the chain returns, so an answer whose first
byte went out is never retried. The answer that is relayed is the last one tried.

The context-length error is recognised in an answer's body when it has arrived
with its head (the usual small JSON error): OpenAI's ``context_length_exceeded``,
Anthropic's "prompt is too long", vLLM's and TGI's "maximum context length".
"""

from __future__ import annotations

import time

from aiohttp import web

from data_plane.filters import Next
from data_plane.filters.upstream import UpstreamAnswer
from data_plane.metrics import FALLBACKS
from data_plane.proxy.exchange import Exchange

CONDITIONS = ("429", "5xx", "timeout", "context_length")
_CONTEXT_ERRORS = (
    b"context_length_exceeded",
    b"prompt is too long",
    b"maximum context length",
    b"context window",
)


class ModelFallback:
    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        route = exchange.route
        assert route is not None
        if not route.fallbacks:
            return await next(exchange)
        response = await next(exchange)
        body, total = exchange.body, route.timeouts.total
        if body is not None and not body.replayable:
            return response  # streamed to the first backend: nothing left to send another
        for fallback in route.fallbacks:
            condition = condition_of(response, exchange)
            if condition is None or condition not in route.fallback_on:
                return response
            if total is not None and time.perf_counter() - exchange.started >= total:
                return response  # the route's total covers its fallbacks too
            if isinstance(response, UpstreamAnswer):
                response.discard()
            FALLBACKS.labels(route.name, fallback.name, condition).inc()
            exchange.fallback = fallback
            exchange.fallback_reason = condition
            exchange.error = ""
            exchange.attempts_started = time.perf_counter()  # a fresh first-byte deadline
            response = await next(exchange)
        return response


def condition_of(response: web.StreamResponse, exchange: Exchange) -> str | None:
    """Which fallback condition an answer is, if any."""
    status = response.status
    if status == 429:
        return "429" if isinstance(response, UpstreamAnswer) else None  # not our own limits
    if status == 504 and exchange.error == "upstream_timeout":
        return "timeout"
    if status >= 500:
        return "5xx"
    if status in (400, 413, 422) and isinstance(response, UpstreamAnswer):
        body = response.connection.peek_whole_body()
        if body is not None and len(body) <= 65_536:
            lowered = body.lower()
            if any(marker in lowered for marker in _CONTEXT_ERRORS):
                return "context_length"
    if status == 400 and exchange.error == "context_length_exceeded":
        return "context_length"  # every target's context window was too small
    return None
