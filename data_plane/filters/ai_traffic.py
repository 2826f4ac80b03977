"""AI traffic: read the request's model and stream flag, and meter the answer's tokens.

Composed only into the second chain of routes that can see AI-shaped requests
(see ``data_plane.ai.shapes.may_carry_ai``), which the handler takes for a
request whose path ends like one of the AI APIs. For an AI request it
parses the body when it was read whole anyway, asks an OpenAI-shaped stream
for usage when the client did not, and attaches a ``UsageMeter`` that counts
the answer as it streams. When the answer ends, the exchange's usage goes to
the metrics, the telemetry tally and the access log.
"""

from __future__ import annotations

from aiohttp import web

from data_plane.ai.catalog import ModelCatalog
from data_plane.ai.model_request import MODEL_HEADER, AiRequest, valid_model_name
from data_plane.ai.shapes import shape_of
from data_plane.ai.usage_meter import UsageMeter
from data_plane.filters import Next
from data_plane.metrics import TALLY
from data_plane.proxy.exchange import Exchange


class AiTraffic:
    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        shape = shape_of(exchange.path)
        if shape is None:
            return await next(exchange)
        body = exchange.body
        data = body.data if body is not None else None
        header_model = exchange.request.headers.get(MODEL_HEADER)
        ai = AiRequest.of(
            shape,
            data,
            exchange.parsed_body,
            valid_model_name(header_model) if header_model is not None else None,
        )
        if data is None and body is not None and body.length:
            ai.size = body.length  # streamed: the prompt's estimate from its length
        exchange.ai = ai
        meter = exchange.meter = UsageMeter(ai, exchange, self._account)
        exchange.observe(meter)
        if ai.hide_usage:
            exchange.editor = meter
        return await next(exchange)

    def _account(self, exchange: Exchange, meter: UsageMeter) -> None:
        """The answer ended (or was cut): its usage to the metrics and the telemetry tally."""
        ai, usage, route = exchange.ai, exchange.usage, exchange.route
        if ai is None or usage is None or route is None:
            return
        catalog = self._catalog
        target = exchange.target
        sent_model = target.model if target is not None and target.model else ai.model
        prices = catalog.prices
        if prices.priced:
            exchange.cost_usd = prices.cost(usage, meter.response_model, sent_model, ai.model)
        first = meter.first_token_at
        if first is not None and ai.stream:
            exchange.ttft_seconds = first - exchange.started
            last = meter.last_token_at
            if last is not None and usage.output > 1 and last > first:
                exchange.tpot_seconds = (last - first) / (usage.output - 1)
        requested, responded = catalog.labels.pair(ai.model, meter.response_model)
        route.metrics.ai.record(requested, responded, exchange)
        TALLY.tokens(route.name, responded or requested, exchange)
