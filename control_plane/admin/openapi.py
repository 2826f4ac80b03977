"""The OpenAPI document of the REST admin API, served at /api/v1/openapi.json.

Bodies come from the same pydantic models that validate them, so the
document cannot drift from what the server accepts; a test checks every
served route is listed here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from control_plane.domain.config import GatewayConfig, SettingsSpec
from control_plane.domain.identity import ApiKeyRequest, JwtProviderSpec
from control_plane.domain.route import RouteSpec
from control_plane.domain.security import SecuritySpec

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
_CLUSTER = {
    "name": "cluster",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "the cluster; the control plane's default cluster when absent",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, body: str | None = None, ok: int = 200, **extra: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_CLUSTER, *extra.pop("parameters", [])],
        "responses": {
            str(ok): {"description": "success", "content": {"application/json": {}}},
            "400": {
                "description": "unreadable request",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
            "401": {"description": "missing or wrong admin key"},
            "404": {
                "description": "not found",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
            "422": {
                "description": "a field breaks a rule; `field` names it",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
        },
        **extra,
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return operation


def _query_param(name: str, description: str, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


@cache
def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (m, "validation")
            for m in (
                RouteSpec,
                SecuritySpec,
                GatewayConfig,
                SettingsSpec,
                ApiKeyRequest,
                JwtProviderSpec,
            )
        ],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    schemas = {**defs["$defs"], "Error": _ERROR}
    route_id = _path_param("id", "the route's id or name")
    endpoint = _path_param("endpoint", "the endpoint path, with or without its leading '/'")
    consumer = _path_param("name", "the consumer's name")
    key_id = _path_param("id", "the key's id")
    provider = _path_param("name", "the JWT provider's name")
    public: dict[str, list[Any]] = {"security": [], "parameters": []}
    return {
        "openapi": "3.1.0",
        "info": {"title": "ai-gateway admin API", "version": "v1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"adminKey": []}],
        "paths": {
            "/healthz": {"get": {**_op("liveness"), **public}},
            "/api/v1/health": {"get": {**_op("liveness"), **public}},
            "/api/v1/openapi.json": {"get": _op("this document")},
            "/api/v1/schema/config": {"get": _op("JSON Schema of the config file")},
            "/api/v1/clusters": {
                "get": _op("list clusters"),
                "post": _op("create a cluster (idempotent)", ok=201),
            },
            "/api/v1/routes": {
                "get": _op("list routes"),
                "post": _op("create a route", "RouteSpec", ok=201),
            },
            "/api/v1/routes/{id}": {
                "get": _op("get a route", parameters=[route_id]),
                "put": _op("replace a route", "RouteSpec", parameters=[route_id]),
                "delete": _op("delete a route", parameters=[route_id]),
            },
            "/api/v1/security": {"get": _op("list security policies")},
            "/api/v1/security/{endpoint}": {
                "get": _op("get an endpoint's policy", parameters=[endpoint]),
                "put": _op(
                    "create or replace an endpoint's policy", "SecuritySpec", parameters=[endpoint]
                ),
                "delete": _op("delete an endpoint's policy", parameters=[endpoint]),
            },
            "/api/v1/config": {
                "get": _op("export the cluster as a config document (?format=yaml)"),
                "post": _op("apply a config document (?dryRun=true: diff only)", "GatewayConfig"),
            },
            "/api/v1/settings": {
                "get": _op("data-plane settings"),
                "put": _op("change data-plane settings", "SettingsSpec"),
                "patch": _op("change data-plane settings", "SettingsSpec"),
            },
            "/api/v1/dataplanes": {
                "get": _op("data planes: what they applied, and their backends' health")
            },
            "/api/v1/metrics": {
                "get": _op(
                    "fleet metrics: p50/p90/p99 latency, traffic and errors per route and in total",
                    parameters=[
                        _query_param(
                            "type",
                            "one kind; all three when absent",
                            ["latency", "traffic", "errors"],
                        ),
                        _query_param("endpoint", "only the route with this path or name"),
                        _query_param(
                            "window", "how far back: 10s to 1h, like 30s, 5m (default), 1h"
                        ),
                    ],
                )
            },
            "/api/v1/webhooks": {
                "get": _op(
                    "the cluster's recent webhook events and how their delivery went",
                    parameters=[
                        _query_param("limit", "how many, newest first (1-1000, default 100)")
                    ],
                )
            },
            "/metrics": {"get": {**_op("the control plane's own Prometheus metrics"), **public}},
            "/api/v1/consumers": {
                "get": _op("list consumers"),
                "post": _op('create a consumer ({"name": ...})', ok=201),
            },
            "/api/v1/consumers/{name}": {
                "delete": _op("delete a consumer and its keys", parameters=[consumer])
            },
            "/api/v1/consumers/{name}/keys": {
                "post": _op(
                    "create an API key (the plaintext is in this answer only)",
                    "ApiKeyRequest",
                    ok=201,
                    parameters=[consumer],
                )
            },
            "/api/v1/keys": {"get": _op("list API keys (prefixes, never keys)")},
            "/api/v1/keys/{id}": {"delete": _op("revoke an API key", parameters=[key_id])},
            "/api/v1/jwt-providers": {"get": _op("list JWT providers (secrets redacted)")},
            "/api/v1/jwt-providers/{name}": {
                "put": _op(
                    "create or replace a JWT provider", "JwtProviderSpec", parameters=[provider]
                ),
                "delete": _op("delete a JWT provider", parameters=[provider]),
            },
        },
    }
