"""Assemble the REST admin application."""

from __future__ import annotations

from aiohttp import web

from control_plane.admin.handlers import routes
from control_plane.admin.history_handlers import routes as history_routes
from control_plane.admin.identity_handlers import routes as identity_routes
from control_plane.admin.keys import API_KEY, AUTH_THROTTLE, CLIENT_ADDRESS, SERVICE
from control_plane.admin.middleware import errors_as_json, require_api_key
from control_plane.admin.openapi import openapi_document
from control_plane.admin.responses import MAX_BODY_BYTES, json_response
from control_plane.admin_service import AdminService
from control_plane.domain.schema import config_schema
from data_plane.proxy.client_ip import ClientAddress
from data_plane.security.auth_throttle import FailureThrottle


async def _openapi(_request: web.Request) -> web.Response:
    return json_response(openapi_document())


async def _schema(_request: web.Request) -> web.Response:
    return json_response(config_schema())


def build_admin_app(
    service: AdminService,
    api_key: str,
    trusted_proxies: tuple[str, ...] = (),
    auth_failures_per_minute: int = 10,
) -> web.Application:
    """``trusted_proxies``: whose X-Forwarded-For names the client whose failures count."""
    app = web.Application(
        middlewares=[errors_as_json, require_api_key], client_max_size=MAX_BODY_BYTES
    )
    app[SERVICE] = service
    app[API_KEY] = api_key
    app[AUTH_THROTTLE] = FailureThrottle(auth_failures_per_minute, 60.0)
    app[CLIENT_ADDRESS] = ClientAddress(trusted_proxies)
    app.router.add_routes(routes)
    app.router.add_routes(identity_routes)
    app.router.add_routes(history_routes)
    app.router.add_get("/api/v1/openapi.json", _openapi)
    app.router.add_get("/api/v1/schema/config", _schema)
    return app
