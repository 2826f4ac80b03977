"""The ops listener: liveness, readiness and Prometheus metrics, apart from client traffic."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from data_plane.ai.metrics import flush as flush_ai_series

StatusFn = Callable[[], dict[str, object]]


def build_ops_app(
    is_ready: Callable[[], bool], status: StatusFn, registry: CollectorRegistry = REGISTRY
) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        ready = is_ready()
        return web.Response(
            status=200 if ready else 503,
            body=orjson.dumps({"ready": ready, **status()}),
            content_type="application/json",
        )

    async def metrics(_request: web.Request) -> web.Response:
        flush_ai_series()  # what this process counted since the last flush
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
