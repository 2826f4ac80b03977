"""The request path's entry: shed load, normalise, match a route, run its chain, relay, record.

    request ─► shed? ─► normalise path ─► match route [read the model] ─► route.chain(exchange)
                                                     ([auth] ─► [rate limit] ─► body
                                                      ─► balance/retry ─► upstream)
            ─► relay the upstream answer (observers watch) ─► metrics and access log

A route that matches on the model (``models:``) makes the match read it: from
the ``x-aigw-model`` header, else from the JSON body when that is small
enough to read first (it is then not read again). ``GET /v1/models`` is
answered here when routes name models.

Everything it reads per request was built once per snapshot (RuntimeConfig,
each route's chain) or once per process (the control-plane API route). All of
the request's state is on its ``Exchange``; the metrics and the access log
read it at the end.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from data_plane.access_log import AI_FIELDS, AccessLog
from data_plane.ai.model_list import PATH as MODELS_PATH
from data_plane.ai.model_request import (
    MODEL_HEADER,
    ParsedBody,
    parse_body,
    valid_model_name,
)
from data_plane.ai.shapes import AI_SUFFIXES
from data_plane.errors import UnsafePath
from data_plane.filters.body import read_whole
from data_plane.filters.upstream import UpstreamAnswer
from data_plane.metrics import RouteMetrics
from data_plane.proxy.client_ip import ClientAddress
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.proxy.headers import request_id_of
from data_plane.proxy.relay import relay
from data_plane.runtime.config import RuntimeConfig
from data_plane.runtime.path import normalise_path
from data_plane.runtime.routes import (
    CompiledRoute,
    MethodNotAllowed,
    NeedsModel,
    NoRouteForModel,
)

log = logging.getLogger("ai_gateway.data_plane.proxy")

API_PREFIX = "/api/v1"


class ProxyHandler:
    """Serves client traffic from whichever RuntimeConfig is current."""

    def __init__(
        self,
        api_route: CompiledRoute | None = None,
        client_address: ClientAddress | None = None,
        max_concurrency: int = 10_000,
        access_log: AccessLog | None = None,
    ) -> None:
        self.access_log = access_log or AccessLog(False)
        self.max_concurrency = max_concurrency
        self.in_flight = 0
        self.client_address = client_address or ClientAddress(())
        self.api_route = api_route  # /api/v1/* to the control plane's REST API, when enabled
        self.config: RuntimeConfig | None = None
        self._unmatched: RouteMetrics | None = None  # requests no route took: route="none"

    def swap(self, config: RuntimeConfig) -> None:
        """Replace the whole config at once; requests in flight keep the one they started with."""
        self.config = config

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        exchange = Exchange(request)
        if self.in_flight >= self.max_concurrency:
            # Shed before any work: a fast answer keeps the process responsive under overload.
            return refuse(
                exchange,
                503,
                "overloaded",
                "the gateway is at its concurrency limit; retry shortly",
                {"Retry-After": "1"},
            )
        self.in_flight += 1  # aigw_requests_in_flight reads it at scrape time
        try:
            response = await self._serve(exchange)
            exchange.status = response.status
            return response
        finally:
            self.in_flight -= 1
            if exchange.settle is not None:
                exchange.settle(exchange)
            self._record(exchange)

    def _record(self, exchange: Exchange) -> None:
        seconds = time.perf_counter() - exchange.started
        route = exchange.route
        method = exchange.request.method
        if route is not None:
            metrics = route.metrics
        else:
            metrics = self._unmatched = self._unmatched or RouteMetrics("none")
        metrics.request(method, exchange.status, seconds, exchange.request_bytes)
        if self.access_log.enabled:
            self.access_log.record(self._log_fields(exchange, seconds))

    def _log_fields(self, exchange: Exchange, seconds: float) -> dict[str, object]:
        config = self.config
        fields: dict[str, object] = {
            "requestId": exchange.request_id,
            "cluster": config.cluster if config else "",
            "route": exchange.route_name,
            "method": exchange.request.method,
            "path": exchange.path,
            "status": exchange.status,
            "durationMs": round(seconds * 1000, 3),
            "upstreamMs": round(exchange.upstream_seconds * 1000, 3)
            if exchange.upstream_seconds is not None
            else None,
            "target": exchange.target_url or None,
            "retries": exchange.retries,
            "consumer": exchange.consumer,
            "bytesIn": exchange.request_bytes,
            "bytesOut": exchange.response_bytes,
            "clientIp": exchange.client_ip,
            "error": exchange.error or None,
        }
        ai = exchange.ai
        if ai is not None:
            fields[AI_FIELDS] = exchange  # its AI fields are made in the writer thread
        return fields

    async def _serve(self, exchange: Exchange) -> web.StreamResponse:
        request = exchange.request
        exchange.request_id = request_id_of(request.headers)
        raw_path = request.raw_path.partition("?")[0]
        route = self._api(raw_path)
        if route is not None:
            exchange.path = raw_path  # as written: the control plane reads its own paths
        else:
            try:
                exchange.path = normalise_path(raw_path)
            except UnsafePath as exc:
                return refuse(exchange, 400, "invalid_path", f"invalid request path: {exc}")
            route = self._api(exchange.path)  # //api/v1/... is the API too, never a user route
        if route is None:
            found = await self._match(exchange)
            if not isinstance(found, CompiledRoute):
                return found
            route = found
        exchange.route, exchange.route_name = route, route.name
        peername = request.transport.get_extra_info("peername") if request.transport else None
        exchange.peer_ip = peername[0] if peername else ""
        exchange.client_ip = self.client_address.resolve(
            exchange.peer_ip, request.headers.get("X-Forwarded-For")
        )
        chain = route.chain
        if route.ai_chain is not None and exchange.path.endswith(AI_SUFFIXES):
            chain = route.ai_chain
        assert chain is not None
        response = await chain(exchange)
        if isinstance(response, UpstreamAnswer):
            return await relay(exchange, response)
        return response

    async def _match(self, exchange: Exchange) -> CompiledRoute | web.StreamResponse:
        request, path = exchange.request, exchange.path
        config = self.config
        if config is None:
            return refuse(
                exchange,
                503,
                "not_ready",
                "the gateway has no configuration yet",
                {"Retry-After": "1"},
            )
        if path == MODELS_PATH and request.method == "GET" and config.model_list:
            return await config.model_list.answer(exchange)
        method, headers, host = request.method, request.headers, request.host
        found = config.routes.match(path, method, headers, host)
        if isinstance(found, NeedsModel):
            model = await _read_model(exchange)
            found = config.routes.resume(found, method, headers, host, model)
        if isinstance(found, NoRouteForModel):
            if found.model is None:
                parsed = exchange.parsed_body
                problem = parsed.problem if parsed is not None else "the request names no model"
                return refuse(exchange, 400, "invalid_request",
                              f"{problem} (this path routes on the model)")  # fmt: skip
            return refuse(
                exchange,
                404,
                "model_not_found",
                f"no route serves model {found.model[:256]!r} on {path}; list them with "
                f"GET {MODELS_PATH}",
            )
        if found is None or isinstance(found, NeedsModel):
            return refuse(exchange, 404, "no_route", f"no route for {request.method} {path}")
        if isinstance(found, MethodNotAllowed):
            allow = ", ".join(sorted(found.allowed))
            return refuse(
                exchange,
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {path}; use {allow}",
                {"Allow": allow},
            )
        return found.route

    def _api(self, raw_path: str) -> CompiledRoute | None:
        """The control-plane API route for ``/api/v1`` and below, as the client wrote it."""
        if self.api_route is not None and (
            raw_path == API_PREFIX or raw_path.startswith(API_PREFIX + "/")
        ):
            return self.api_route
        return None


async def _read_model(exchange: Exchange) -> str | None:
    """The model the request asks for: the x-aigw-model header, else the body's ``model``
    (the body is then read whole, once, for the filters after). None: it names none (why is
    on ``exchange.parsed_body``)."""
    request = exchange.request
    header = request.headers.get(MODEL_HEADER)
    if header is not None:
        model = valid_model_name(header)
        if model is None:
            exchange.parsed_body = ParsedBody(
                None, None, f"the {MODEL_HEADER} header is not a model name (1-256 characters)"
            )
        return model
    if exchange.body is None and not await read_whole(exchange):
        exchange.parsed_body = parse_body(None, too_large=request.body_exists)
        return None
    body = exchange.body
    parsed = parse_body(body.data if body is not None else None)
    exchange.parsed_body = parsed
    return parsed.model
