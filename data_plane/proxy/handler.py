"""The request path: normalise, match a route, pick a target, forward.

Everything it reads per request was built once per snapshot (RuntimeConfig)
or once per process (the upstream pools, the control-plane API route).
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from data_plane.access_log import AccessLog
from data_plane.errors import UnsafePath
from data_plane.metrics import observe_request
from data_plane.proxy.client_ip import ClientAddress
from data_plane.proxy.errors import error_response
from data_plane.proxy.exchange import ExchangeRecord
from data_plane.proxy.forward import ForwardOptions, forward
from data_plane.proxy.headers import request_id_of
from data_plane.runtime.config import RuntimeConfig
from data_plane.runtime.path import normalise_path
from data_plane.runtime.routes import CompiledRoute, MethodNotAllowed
from data_plane.security.auth_throttle import AUTH_THROTTLED, FailureThrottle
from data_plane.security.guard import Pass
from data_plane.upstream.pools import UpstreamPools
from data_plane.upstream.retry_budget import RetryBudget

log = logging.getLogger("ai_gateway.data_plane.proxy")

API_PREFIX = "/api/v1"


class ProxyHandler:
    """Serves client traffic from whichever RuntimeConfig is current."""

    def __init__(
        self,
        pools: UpstreamPools,
        options: ForwardOptions,
        api_route: CompiledRoute | None = None,
        client_address: ClientAddress | None = None,
        max_concurrency: int = 10_000,
        access_log: AccessLog | None = None,
    ) -> None:
        self.access_log = access_log or AccessLog(False)
        self.max_concurrency = max_concurrency
        self.in_flight = 0
        self.pools = pools
        self.client_address = client_address or ClientAddress(())
        self.budget = RetryBudget()
        self.options = options
        self.api_route = api_route  # /api/v1/* to the control plane's REST API, when enabled
        self.api_throttle = FailureThrottle()
        self.config: RuntimeConfig | None = None

    def swap(self, config: RuntimeConfig) -> None:
        """Replace the whole config at once; requests in flight keep the one they started with."""
        self.config = config

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.in_flight >= self.max_concurrency:
            # Shed before any work: a fast answer keeps the process responsive under overload.
            return error_response(
                503,
                "overloaded",
                "the gateway is at its concurrency limit; retry shortly",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1  # aigw_requests_in_flight reads it at scrape time
        started = time.perf_counter()
        exchange = ExchangeRecord()
        status = 499  # the client went away before an answer
        try:
            response = await self._serve(request, exchange)
            status = response.status
            if status >= 400 and not exchange.error:
                exchange.error = str(response.get("error_code", ""))
            return response
        finally:
            self.in_flight -= 1
            seconds = time.perf_counter() - started
            observe_request(exchange.route, request.method, status, seconds, exchange.request_bytes)
            if self.access_log.enabled:
                self.access_log.record(self._log_fields(request, exchange, status, seconds))

    def _log_fields(
        self, request: web.BaseRequest, exchange: ExchangeRecord, status: int, seconds: float
    ) -> dict[str, object]:
        config = self.config
        return {
            "requestId": exchange.request_id,
            "cluster": config.cluster if config else "",
            "route": exchange.route,
            "method": request.method,
            "path": exchange.path,
            "status": status,
            "durationMs": round(seconds * 1000, 3),
            "upstreamMs": round(exchange.upstream_seconds * 1000, 3)
            if exchange.upstream_seconds is not None
            else None,
            "target": exchange.target or None,
            "retries": exchange.retries,
            "consumer": exchange.consumer,
            "bytesIn": exchange.request_bytes,
            "bytesOut": exchange.response_bytes,
            "clientIp": exchange.client_ip,
            "error": exchange.error or None,
        }

    async def _serve(
        self, request: web.BaseRequest, exchange: ExchangeRecord
    ) -> web.StreamResponse:
        request_id = exchange.request_id = request_id_of(request.headers)
        raw_path = request.raw_path.partition("?")[0]
        try:
            path = exchange.path = normalise_path(raw_path)
        except UnsafePath as exc:
            return error_response(
                400, "invalid_path", f"invalid request path: {exc}", request_id=request_id
            )
        route = self.api_route if self._is_api(path) else None
        config = None
        if route is None:
            config = self.config
            if config is None:
                return error_response(
                    503,
                    "not_ready",
                    "the gateway has no configuration yet",
                    request_id=request_id,
                    headers={"Retry-After": "1"},
                )
            found = config.routes.match(path, request.method, request.headers, request.host)
            if found is None:
                return error_response(
                    404,
                    "no_route",
                    f"no route for {request.method} {path}",
                    request_id=request_id,
                )
            if isinstance(found, MethodNotAllowed):
                allow = ", ".join(sorted(found.allowed))
                return error_response(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed on {path}; use {allow}",
                    request_id=request_id,
                    headers={"Allow": allow},
                )
            route = found.route
        exchange.route = route.name
        peername = request.transport.get_extra_info("peername") if request.transport else None
        peer = peername[0] if peername else ""
        client_ip = exchange.client_ip = self.client_address.resolve(
            peer, request.headers.get("X-Forwarded-For")
        )
        admitted: Pass | None = None
        if config is None:  # the control-plane API checks its own key; we count its refusals
            refused = self._throttled(exchange.client_ip, request_id)
            if refused is not None:
                return refused
        else:
            verdict = await config.guard.check(request, path, route.name, client_ip, request_id)
            if not isinstance(verdict, Pass):
                return verdict
            admitted = verdict
            exchange.consumer = verdict.consumer
        response = await forward(
            request,
            self.pools,
            route,
            route.upstream_path(path),
            request_id=request_id,
            peer_ip=peer,
            options=self.options,
            admitted=admitted,
            budget=self.budget,
            exchange=exchange,
        )
        if config is None and response.status == 401 and "Authorization" in request.headers:
            self.api_throttle.failed(exchange.client_ip)  # a wrong admin key: a guess
        return response

    def _throttled(self, client_ip: str, request_id: str) -> web.Response | None:
        """A client whose admin keys keep failing is answered 429 here, by its own address,
        before its next guess reaches the control plane."""
        wait = self.api_throttle.retry_after(client_ip)
        if wait is None:
            return None
        return error_response(
            429,
            AUTH_THROTTLED,
            f"too many wrong admin API keys from {client_ip}; retry after {wait}s",
            request_id=request_id,
            headers={"Retry-After": str(wait)},
        )

    def _is_api(self, path: str) -> bool:
        return self.api_route is not None and (
            path == API_PREFIX or path.startswith(API_PREFIX + "/")
        )
