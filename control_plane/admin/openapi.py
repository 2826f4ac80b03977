"""The OpenAPI document of the REST admin API, served at /api/v1/openapi.json.

Request bodies come from the same pydantic models that validate them, so the
document cannot drift from what the server accepts; a test checks every served
route is listed here, and schemathesis (bounded, in the suite) checks the server
against it: no 5xx, only documented statuses, content types and shapes.

Parameters are stated exactly: a request that follows the document is never
answered 400. A body can follow the document and still break a rule JSON
Schema cannot state (a regex RE2 must compile, a path in canonical form, one
field requiring another); that is the documented 422, naming the field.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from control_plane.admin.openapi_shapes import RECORDS, error_response, record
from control_plane.domain.config import GatewayConfig, SettingsSpec
from control_plane.domain.identity import ApiKeyRequest, ConsumerSpec, JwtProviderSpec
from control_plane.domain.patterns import ENDPOINT_SEGMENT, NAME, TAG_TEXT
from control_plane.domain.route import RouteSpec
from control_plane.domain.security import SecuritySpec

_CLUSTER = {
    "name": "cluster",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": NAME},
    "description": "the cluster; the control plane's default cluster when absent",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], **headers: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


_REVISION = {
    "X-AI-Gateway-Revision": {
        "description": "the cluster's revision after the change",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def _op(
    summary: str,
    ok: dict[int, tuple[str, dict[str, Any]]],
    *,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    params: tuple[dict[str, Any], ...] = (),
    errors: tuple[int, ...] = (),
    cluster: bool = True,
    writes: bool = False,
    public: bool = False,
) -> dict[str, Any]:
    """An operation: its successes, and the errors it can answer (``errors``, beyond those of
    every authenticated call: 401, 429 and 503)."""
    responses: dict[str, Any] = {}
    for status, (description, schema) in ok.items():
        responses[str(status)] = {
            "description": description,
            **(_json(schema, **_REVISION) if writes else _json(schema)),
        }
    codes = set(errors)
    if not public:
        codes |= {401, 429, 503}
    if cluster:
        codes |= {400, 404, 409}  # a malformed or unknown cluster; rows that no longer read
    if body is not None:
        codes |= {400, 413, 422}
    for code in sorted(codes):
        responses[str(code)] = error_response(code)
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [*([_CLUSTER] if cluster else []), *params],
        "responses": responses,
    }
    if public:
        operation["security"] = []
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": body}
    return operation


def _yaml_too(operation: dict[str, Any]) -> dict[str, Any]:
    """The export answers YAML when asked (?format=yaml)."""
    content = operation["responses"]["200"]["content"]
    content["application/yaml"] = {"schema": content["application/json"]["schema"]}
    return operation


def _body(name: str, yaml: bool = False) -> dict[str, Any]:
    content = {"application/json": {"schema": _ref(name)}}
    if yaml:
        content["application/yaml"] = {"schema": _ref(name)}
    return content


def _tags_query(name: str, description: str) -> dict[str, Any]:
    tags = f"^{TAG_TEXT}(,{TAG_TEXT})*$"
    return _query(name, f"{description} (comma-separated)", {"type": "string", "pattern": tags})


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or {"type": "string", "minLength": 1},
        "description": description,
    }


def _list(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": _ref(item)}},
    }


def _request_schemas() -> dict[str, Any]:
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
                ConsumerSpec,
            )
        ],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(defs["$defs"])
    # PUT /security/{endpoint} takes the endpoint from its URL: in the body it may only repeat it.
    policy = dict(schemas["SecuritySpec"])
    policy["properties"] = {k: v for k, v in policy["properties"].items() if k != "endpoint"}
    policy["required"] = []
    policy["title"] = "SecurityPolicyBody"
    schemas["SecurityPolicyBody"] = policy
    # PUT /jwt-providers/{name} takes the name from its URL.
    provider = dict(schemas["JwtProviderSpec"])
    provider["properties"] = {k: v for k, v in provider["properties"].items() if k != "name"}
    provider["required"] = [r for r in provider.get("required", []) if r != "name"]
    provider["title"] = "JwtProviderBody"
    schemas["JwtProviderBody"] = provider
    schemas["ClusterRequest"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": NAME}},
    }
    return schemas


@cache
def openapi_document() -> dict[str, Any]:
    route_id = _path("id", "the route's id or name")
    endpoint = _path(
        "endpoint",
        "the endpoint's path without its leading '/': one segment like predict, or more "
        "joined by '/' or %2F like v1/chat; the root endpoint is %2F",
        {"type": "string", "pattern": ENDPOINT_SEGMENT, "maxLength": 1023},
    )
    consumer = _path("name", "the consumer's name", {"type": "string", "pattern": NAME})
    key_id = _path("id", "the key's id")
    provider = _path("name", "the JWT provider's name", {"type": "string", "pattern": NAME})
    deleted = record("Deleted")
    number = {"type": "string", "pattern": "^[0-9]{1,18}$"}
    revision = _path("revision", "a revision number (see GET /api/v1/revisions)", number)
    text = {"type": "string"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "ai-gateway admin API", "version": "v1"},
        "components": {
            "schemas": {**_request_schemas(), **RECORDS},
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"adminKey": []}],
        "paths": {
            "/healthz": {
                "get": _op(
                    "liveness", {200: ("alive", record("Health"))}, cluster=False, public=True
                )
            },
            "/api/v1/health": {
                "get": _op(
                    "liveness", {200: ("alive", record("Health"))}, cluster=False, public=True
                )
            },
            "/api/v1/openapi.json": {
                "get": _op(
                    "this document", {200: ("OpenAPI 3.1", {"type": "object"})}, cluster=False
                )
            },
            "/api/v1/schema/config": {
                "get": _op(
                    "JSON Schema of the config file",
                    {200: ("JSON Schema", {"type": "object"})},
                    cluster=False,
                )
            },
            "/api/v1/clusters": {
                "get": _op(
                    "list clusters (error: why the current revision is not served)",
                    {200: ("the clusters", _list("clusters", "Cluster"))},
                    cluster=False,
                ),
                "post": _op(
                    "create a cluster (idempotent)",
                    {
                        201: ("created", record("ClusterCreated")),
                        200: ("it existed", record("ClusterCreated")),
                    },
                    body=_body("ClusterRequest"),
                    cluster=False,
                ),
            },
            "/api/v1/routes": {
                "get": _op(
                    "list routes in match order",
                    {200: ("the routes", _list("routes", "Route"))},
                    params=(_tags_query("tags", "only those carrying every one of these tags"),),
                ),
                "post": _op(
                    "create a route (the same route again: unchanged; another of that name: "
                    "409, or replaced with replace=true)",
                    {
                        201: ("created", record("Route")),
                        200: ("unchanged, or replaced", record("Route")),
                    },
                    body=_body("RouteSpec"),
                    params=(
                        _query(
                            "replace",
                            "true: replace a route of that name that differs",
                            {"type": "string", "enum": ["true", "false"]},
                        ),
                    ),
                    errors=(409,),
                    writes=True,
                ),
            },
            "/api/v1/routes/{id}": {
                "get": _op(
                    "get a route", {200: ("the route", record("Route"))}, params=(route_id,)
                ),
                "put": _op(
                    "replace a route",
                    {200: ("replaced", record("Route"))},
                    body=_body("RouteSpec"),
                    params=(route_id,),
                    errors=(409,),
                    writes=True,
                ),
                "delete": _op(
                    "delete a route",
                    {200: ("deleted", deleted)},
                    params=(route_id,),
                    errors=(422,),
                    writes=True,
                ),
            },
            "/api/v1/security": {
                "get": _op(
                    "list security policies",
                    {200: ("the policies", _list("security", "SecurityPolicy"))},
                    params=(_tags_query("tags", "only those carrying every one of these tags"),),
                )
            },
            "/api/v1/security/{endpoint}": {
                "get": _op(
                    "get an endpoint's policy",
                    {200: ("the policy", record("SecurityPolicy"))},
                    params=(endpoint,),
                ),
                "put": _op(
                    "create or replace an endpoint's policy",
                    {
                        201: ("created", record("SecurityPolicy")),
                        200: ("replaced", record("SecurityPolicy")),
                    },
                    body=_body("SecurityPolicyBody"),
                    params=(endpoint,),
                    writes=True,
                ),
                "patch": _op(
                    "change only the fields the body names (null removes one; a JSON merge "
                    "patch onto the policy, or onto a new one)",
                    {
                        201: ("created", record("SecurityPolicy")),
                        200: ("changed", record("SecurityPolicy")),
                    },
                    body={"application/json": {"schema": {"type": "object"}}},
                    params=(endpoint,),
                    writes=True,
                ),
                "delete": _op(
                    "delete an endpoint's policy",
                    {200: ("deleted", deleted)},
                    params=(endpoint,),
                    errors=(422,),
                    writes=True,
                ),
            },
            "/api/v1/config": {
                "get": _yaml_too(
                    _op(
                        "export the cluster as a config document",
                        {200: ("the document", _ref("GatewayConfig"))},
                        params=(
                            _query(
                                "format",
                                "yaml for YAML",
                                {"type": "string", "enum": ["json", "yaml"]},
                            ),
                            _tags_query("selectTags", "only the routes and policies with these"),
                        ),
                    )
                ),
                "post": _op(
                    "apply a config document (dryRun: the difference only)",
                    {200: ("what changed", record("Applied"))},
                    body=_body("GatewayConfig", yaml=True),
                    params=(
                        _query(
                            "dryRun",
                            "true: answer the difference, change nothing",
                            {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
                        ),
                        _tags_query(
                            "selectTags", "manage only the routes and policies with these tags"
                        ),
                    ),
                    writes=True,
                ),
            },
            "/api/v1/revisions": {
                "get": _op(
                    "the kept revisions of the cluster's document, newest first",
                    {200: ("the history", record("Revisions"))},
                )
            },
            "/api/v1/revisions/{revision}": {
                "get": _op(
                    "a kept revision: who made it, and its whole document",
                    {200: ("the revision", record("Revision"))},
                    params=(revision,),
                )
            },
            "/api/v1/revisions/{revision}/diff": {
                "get": _op(
                    "what changed from a kept revision to another (?to=) or to now",
                    {200: ("the difference", record("RevisionDiff"))},
                    params=(
                        revision,
                        _query("to", "a kept revision; default: the cluster now", number),
                    ),
                )
            },
            "/api/v1/revisions/{revision}/rollback": {
                "post": _op(
                    "hold a kept revision's document again, as a new revision",
                    {200: ("what changed", record("Applied"))},
                    params=(
                        revision,
                        _query(
                            "dryRun",
                            "true: answer the difference, change nothing",
                            {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
                        ),
                    ),
                    errors=(422,),
                    writes=True,
                )
            },
            "/api/v1/settings": {
                "get": _op("data-plane settings", {200: ("the settings", _ref("SettingsSpec"))}),
                "put": _op(
                    "change data-plane settings",
                    {200: ("the settings", _ref("SettingsSpec"))},
                    body=_body("SettingsSpec"),
                    writes=True,
                ),
                "patch": _op(
                    "change data-plane settings",
                    {200: ("the settings", _ref("SettingsSpec"))},
                    body=_body("SettingsSpec"),
                    writes=True,
                ),
            },
            "/api/v1/dataplanes": {
                "get": _op(
                    "data planes: what they applied, and their backends' health",
                    {200: ("the data planes", _list("dataplanes", "DataPlane"))},
                )
            },
            "/api/v1/metrics": {
                "get": _op(
                    "fleet metrics: p50/p90/p99 latency, traffic and errors per route and in total",
                    {200: ("the figures", record("FleetMetrics"))},
                    params=(
                        _query(
                            "type",
                            "one kind; latency, traffic and errors when absent; tokens: per "
                            "model tokens, time to first token and cost",
                            {"type": "string", "enum": ["latency", "traffic", "errors", "tokens"]},
                        ),
                        _query(
                            "endpoint",
                            "only the route with this path or name",
                            {"type": "string", "minLength": 1},
                        ),
                        _window_query("5m (default)"),
                    ),
                )
            },
            "/api/v1/usage": {
                "get": _op(
                    "requests, tokens by type and cost per consumer and model",
                    {200: ("the usage", record("Usage"))},
                    params=(
                        _query(
                            "consumer",
                            "only this consumer",
                            {"type": "string", "minLength": 1, "maxLength": 256},
                        ),
                        _query(
                            "model",
                            "only this model",
                            {"type": "string", "minLength": 1, "maxLength": 256},
                        ),
                        _window_query("1h (default)"),
                    ),
                )
            },
            "/api/v1/webhooks": {
                "get": _op(
                    "the cluster's recent webhook events and how their delivery went",
                    {200: ("the events", _list("webhooks", "Webhook"))},
                    params=(
                        _query(
                            "limit",
                            "how many, newest first (default 100)",
                            {"type": "integer", "minimum": 1, "maximum": 1000},
                        ),
                    ),
                )
            },
            "/metrics": {
                "get": {
                    **_op(
                        "the control plane's own Prometheus metrics", {}, cluster=False, public=True
                    ),
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition",
                            "content": {"text/plain": {"schema": text}},
                        }
                    },
                }
            },
            "/api/v1/consumers": {
                "get": _op(
                    "list consumers",
                    {200: ("the consumers", _list("consumers", "Consumer"))},
                    params=(_tags_query("tags", "only those with every one of these tags"),),
                ),
                "post": _op(
                    "create a consumer",
                    {201: ("created", record("Consumer"))},
                    body=_body("ConsumerSpec"),
                    errors=(409,),
                    writes=True,
                ),
            },
            "/api/v1/consumers/{name}": {
                "delete": _op(
                    "delete a consumer and its keys",
                    {200: ("deleted", deleted)},
                    params=(consumer,),
                    errors=(422,),
                    writes=True,
                )
            },
            "/api/v1/consumers/{name}/keys": {
                "post": _op(
                    "create an API key (the plaintext is in this answer only)",
                    {201: ("created", record("CreatedKey"))},
                    body=_body("ApiKeyRequest"),
                    body_required=False,
                    params=(consumer,),
                    writes=True,
                )
            },
            "/api/v1/keys": {
                "get": _op(
                    "list API keys (prefixes, never keys)",
                    {200: ("the keys", _list("keys", "ApiKey"))},
                )
            },
            "/api/v1/keys/{id}": {
                "delete": _op(
                    "revoke an API key",
                    {200: ("revoked", record("Revoked"))},
                    params=(key_id,),
                    errors=(422,),
                    writes=True,
                )
            },
            "/api/v1/jwt-providers": {
                "get": _op(
                    "list JWT providers (secrets redacted)",
                    {200: ("the providers", _list("jwtProviders", "JwtProvider"))},
                )
            },
            "/api/v1/jwt-providers/{name}": {
                "put": _op(
                    "create or replace a JWT provider",
                    {
                        201: ("created", record("JwtProvider")),
                        200: ("replaced", record("JwtProvider")),
                    },
                    body=_body("JwtProviderBody"),
                    params=(provider,),
                    writes=True,
                ),
                "delete": _op(
                    "delete a JWT provider",
                    {200: ("deleted", deleted)},
                    params=(provider,),
                    errors=(422,),
                    writes=True,
                ),
            },
        },
    }


def _window_query(default: str) -> dict[str, Any]:
    return _query(
        "window",
        f"how far back: 10s to 1h, like 30s, 5m, 1h; {default}",
        {
            "type": "string",
            "pattern": "^([1-9][0-9]|[1-9][0-9]{2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)s$"
            "|^([1-9]|[1-5][0-9]|60)m$|^1h$",
        },
    )
