"""What the admin API answers, as JSON Schema: the records and the error shape.

Written by hand from the records' ``to_json`` (control_plane.store.records):
they are plain dataclasses, not models, and answers may gain fields, so each
shape lists what a client may rely on and allows more.
"""

from __future__ import annotations

from typing import Any

_STRING: dict[str, Any] = {"type": "string"}
_OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}
_INTEGER: dict[str, Any] = {"type": "integer"}
_NUMBER: dict[str, Any] = {"type": "number"}
_BOOLEAN: dict[str, Any] = {"type": "boolean"}
_OBJECT: dict[str, Any] = {"type": "object"}
_TIME: dict[str, Any] = {"type": "string", "description": "ISO 8601, UTC"}


def _shape(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


_CHANGES = {
    "type": "array",
    "items": _shape(
        {
            "kind": _STRING,
            "key": _STRING,
            "action": {"type": "string", "enum": ["create", "update", "delete"]},
        }
    ),
}
_SUMMARY = _shape({"create": _INTEGER, "update": _INTEGER, "delete": _INTEGER})
_REVISION_ENTRY = {
    "revision": _INTEGER,
    "createdAt": _TIME,
    "actor": {"type": "string", "description": "which admin key (its fingerprint)"},
    "address": {"type": "string", "description": "the client's address"},
    "action": {"type": "string", "description": "what the change was, like 'apply'"},
    "routes": _INTEGER,
    "policies": _INTEGER,
}

_KEY = {
    "id": _STRING,
    "consumer": _STRING,
    "prefix": _STRING,
    "expiresAt": {"type": ["string", "null"], "description": "ISO 8601; null: never"},
    "routes": {"type": "array", "items": _STRING},
    "createdAt": _TIME,
}

RECORDS: dict[str, Any] = {
    "Error": _shape(
        {
            "error": _shape(
                {"code": _STRING, "message": _STRING},
                {"field": _STRING, "details": {"type": "array", "items": _OBJECT}},
            )
        }
    ),
    "Health": _shape({"status": {"type": "string", "enum": ["ok"]}}),
    "Cluster": _shape(
        {"name": _STRING, "revision": _INTEGER, "createdAt": _TIME, "error": _OPTIONAL_STRING}
    ),
    "ClusterCreated": _shape(
        {"name": _STRING, "revision": _INTEGER, "createdAt": _TIME, "created": _BOOLEAN}
    ),
    "Route": _shape(
        {
            "id": _STRING,
            "name": _STRING,
            "cluster": _STRING,
            "path": _STRING,
            "match": {"type": "string", "enum": ["prefix", "exact", "regex"]},
            "targets": {
                "type": "array",
                "items": _shape({"url": _STRING, "weight": _INTEGER, "priority": _INTEGER}),
            },
            "createdAt": _TIME,
            "updatedAt": _TIME,
        }
    ),
    "SecurityPolicy": _shape(
        {
            "id": _STRING,
            "cluster": _STRING,
            "endpoint": _STRING,
            "auth": {"type": "string", "enum": ["none", "jwt", "api-key"]},
            "jwtProviders": {"type": "array", "items": _STRING},
            "createdAt": _TIME,
            "updatedAt": _TIME,
        },
        {
            "rateLimit": {"type": ["string", "object", "null"]},
            # On the answers to PUT and PATCH: what will go wrong (a JWT endpoint, no provider).
            "warnings": {"type": "array", "items": _STRING},
        },
    ),
    "Deleted": _shape({"deleted": _STRING, "revision": _INTEGER}),
    "Revoked": _shape({"revoked": _STRING, "revision": _INTEGER}),
    "Applied": _shape(
        {
            "changes": _CHANGES,
            "summary": _SUMMARY,
            "revision": _INTEGER,
            "dryRun": _BOOLEAN,
            "applied": _BOOLEAN,
            "warnings": {"type": "array", "items": _STRING},
        },
        {"rolledBackTo": _INTEGER},
    ),
    "Revisions": _shape(
        {"revisions": {"type": "array", "items": _shape(_REVISION_ENTRY)}, "kept": _INTEGER}
    ),
    "Revision": _shape({**_REVISION_ENTRY, "document": _OBJECT}),
    "RevisionDiff": _shape(
        {
            "changes": _CHANGES,
            "summary": _SUMMARY,
            "from": _INTEGER,
            "to": {"type": ["integer", "null"], "description": "null: the cluster now"},
        }
    ),
    "DataPlane": _shape(
        {
            "nodeId": _STRING,
            "cluster": _STRING,
            "appliedVersion": _STRING,
            "lastSeen": _TIME,
            "lastNack": _OPTIONAL_STRING,
            "connected": _BOOLEAN,
            "targets": {"type": "array", "items": _OBJECT},
        },
        {"inFlight": {"type": ["integer", "null"]}, "lastReport": _OPTIONAL_STRING},
    ),
    "FleetMetrics": _shape(
        {
            "cluster": _STRING,
            "type": {"type": "string", "enum": ["latency", "traffic", "errors", "tokens", "all"]},
            "window": _STRING,
            "windowSeconds": _NUMBER,
            "dataPlanes": _INTEGER,
        },
        {
            "endpoint": _OPTIONAL_STRING,
            "routes": {"type": "array"},
            "models": {"type": "array"},
            "total": _OBJECT,
        },
    ),
    "Usage": _shape(
        {
            "cluster": _STRING,
            "window": _STRING,
            "windowSeconds": _NUMBER,
            "dataPlanes": _INTEGER,
            "total": _OBJECT,
            "consumers": {"type": "array", "items": _OBJECT},
            "budgets": {"type": "array", "items": _OBJECT},
        },
        {"consumer": _OPTIONAL_STRING, "model": _OPTIONAL_STRING},
    ),
    "Webhook": _shape(
        {
            "id": _STRING,
            "cluster": _STRING,
            "url": _STRING,
            "type": _STRING,
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": _INTEGER,
            "createdAt": _TIME,
        }
    ),
    "Consumer": _shape(
        {
            "id": _STRING,
            "name": _STRING,
            "tags": {"type": "array", "items": _STRING},
            "keys": _INTEGER,
            "createdAt": _TIME,
        }
    ),
    "ApiKey": _shape(_KEY),
    "CreatedKey": _shape({**_KEY, "key": {"type": "string", "description": "shown only here"}}),
    "JwtProvider": _shape(
        {"name": _STRING, "algorithms": {"type": "array", "items": _STRING}},
        {"secret": {"type": ["string", "null"], "enum": ["<redacted>", None]}},
    ),
}

_ERRORS = {
    400: "the request does not follow this document (a parameter, an unreadable body)",
    401: "missing or wrong admin key",
    404: "not found (or the cluster does not exist)",
    409: "taken (a name or endpoint), or a stored row no longer reads",
    413: "the body is over 4 MiB",
    422: "a value breaks a rule; `field` names it and the message says how to fix it",
    429: "too many wrong admin keys from this address: wait Retry-After seconds",
    503: "the config store failed; try again",
}


def record(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_response(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": record("Error")}},
    }
    if status == 400:  # a request line or header over 8 KiB: the HTTP parser's own answer
        answer["content"]["text/plain"] = {"schema": {"type": "string"}}
    if status == 429:
        answer["headers"] = {
            "Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True}
        }
    return answer
