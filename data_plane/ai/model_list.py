"""``GET /v1/models`` on the proxy port: the models the cluster's routes serve, in OpenAI's shape.

Answered by the gateway when some route names models (``models:``); without
any, the path goes to the routes as before. A model is listed when the caller
may call the route that serves it: no policy, or its API key (valid, not
expired, and scoped to that route when scoped), or a JWT its providers
accept. A caller without a credential sees the unsecured models only; globs
(``llama-3*``) are not listed, they name no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from data_plane.ai.catalog import ModelCatalog
from data_plane.filters.authentication import bearer
from data_plane.security.api_keys import KeyIndex
from data_plane.security.jwt_auth import TokenRejected

if TYPE_CHECKING:
    from data_plane.proxy.exchange import Exchange
    from data_plane.security.policies import CompiledPolicy
    from data_plane.security.snapshot_security import SnapshotSecurity

PATH = "/v1/models"


class ModelList:
    def __init__(self, catalog: ModelCatalog, security: SnapshotSecurity) -> None:
        self._catalog = catalog
        self._security = security

    def __bool__(self) -> bool:
        return bool(self._catalog.models)

    async def answer(self, exchange: Exchange) -> web.Response:
        headers = exchange.request.headers
        api_key = headers.get("X-API-Key") or bearer(headers)
        token = bearer(headers)
        allowed: dict[str, bool] = {}  # a policy's endpoint -> whether the caller passes it
        data = []
        for served in self._catalog.models:
            policy = self._security.policies.lookup(served.path)
            if policy is not None and policy.auth != "none":
                if policy.endpoint not in allowed:
                    allowed[policy.endpoint] = await self._passes(policy, api_key, token)
                if not allowed[policy.endpoint]:
                    continue
                if policy.auth == "api-key" and not self._scoped(api_key, served.route):
                    continue
            data.append(
                {
                    "id": served.name,
                    "object": "model",
                    "created": self._catalog.created,
                    "owned_by": "ai-gateway",
                }
            )
        exchange.route_name = "models-list"
        body = orjson.dumps({"object": "list", "data": data})
        response = web.Response(body=body, content_type="application/json")
        response.headers["X-Request-Id"] = exchange.request_id
        return response

    async def _passes(self, policy: CompiledPolicy, api_key: str | None, token: str | None) -> bool:
        if policy.auth == "api-key":
            entry = self._security.keys.find(api_key) if api_key else None
            return entry is not None and not KeyIndex.expired(entry)
        if token is None:
            return False
        for verifier in self._security.verifiers_of(policy):
            try:
                await verifier.verify(token)
            except TokenRejected:
                continue
            return True
        return False

    def _scoped(self, api_key: str | None, route: str) -> bool:
        entry = self._security.keys.find(api_key) if api_key else None
        return entry is not None and (not entry.routes or route in entry.routes)
