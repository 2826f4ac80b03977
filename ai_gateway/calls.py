"""Each admin operation once, as data: the sync and async clients only send them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from ai_gateway.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    unwrap: str | None = None  # take this key of the JSON answer
    idempotent: bool = True


def route_document(
    path: str | None = None,
    target: str | None = None,
    *,
    targets: list[Any] | None = None,
    method: str | None = None,
    methods: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The route body from keyword arguments; short forms pass through for the server to check."""
    document: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if path is not None:
        document["path"] = path
    if target is not None:
        document["target"] = target
    if targets is not None:
        document["targets"] = targets
    if method is not None:
        document["method"] = method
    if methods is not None:
        document["methods"] = methods
    return document


def load_document(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A config document from a dict, a YAML/JSON file path, or YAML/JSON text."""
    if isinstance(source, dict):
        return source
    text = source.read_text() if isinstance(source, Path) else source
    if isinstance(source, str) and "\n" not in source and Path(source).is_file():
        text = Path(source).read_text()
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError("the config document must be a mapping with routes:/security: keys")
    return document


class ClusterCalls:
    """The calls of one cluster (the ``?cluster=`` every path carries)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._params = {"cluster": cluster}

    def _call(self, method: str, path: str, **kwargs: Any) -> Call:
        params = {**self._params, **kwargs.pop("params", {})}
        return Call(method, path, params=params, **kwargs)

    def create_route(self, document: dict[str, Any], replace: bool = False) -> Call:
        params = {"replace": "true"} if replace else {}
        return self._call("POST", "/api/v1/routes", json=document, params=params, idempotent=False)

    def list_routes(self, tags: Sequence[str] = ()) -> Call:
        return self._call("GET", "/api/v1/routes", unwrap="routes", params=_tags("tags", tags))

    def get_route(self, route: str) -> Call:
        return self._call("GET", f"/api/v1/routes/{quote(route, safe='')}")

    def update_route(self, route: str, document: dict[str, Any]) -> Call:
        return self._call("PUT", f"/api/v1/routes/{quote(route, safe='')}", json=document)

    def delete_route(self, route: str) -> Call:
        return self._call("DELETE", f"/api/v1/routes/{quote(route, safe='')}")

    def secure(self, endpoint: str, document: dict[str, Any]) -> Call:
        return self._call(
            "PUT", f"/api/v1/security/{quote(endpoint.lstrip('/'), safe='')}", json=document
        )

    def update_security(self, endpoint: str, changes: dict[str, Any]) -> Call:
        return self._call(
            "PATCH", f"/api/v1/security/{quote(endpoint.lstrip('/'), safe='')}", json=changes
        )

    def list_security(self, tags: Sequence[str] = ()) -> Call:
        params = _tags("tags", tags)
        return self._call("GET", "/api/v1/security", unwrap="security", params=params)

    def delete_security(self, endpoint: str) -> Call:
        return self._call("DELETE", f"/api/v1/security/{quote(endpoint.lstrip('/'), safe='')}")

    def apply(
        self, document: dict[str, Any], dry_run: bool, select_tags: Sequence[str] = ()
    ) -> Call:
        # Applying the same document twice changes nothing, so a retry is safe.
        params = {"dryRun": "true" if dry_run else "false", **_tags("selectTags", select_tags)}
        return self._call("POST", "/api/v1/config", json=document, params=params)

    def history(self) -> Call:
        return self._call("GET", "/api/v1/revisions", unwrap="revisions")

    def revision(self, revision: int) -> Call:
        return self._call("GET", f"/api/v1/revisions/{int(revision)}")

    def revision_diff(self, revision: int, to: int | None) -> Call:
        params = {} if to is None else {"to": str(int(to))}
        return self._call("GET", f"/api/v1/revisions/{int(revision)}/diff", params=params)

    def rollback(self, revision: int, dry_run: bool) -> Call:
        # Rolling back to one revision twice leaves its document: a retry is safe.
        params = {"dryRun": "true" if dry_run else "false"}
        return self._call("POST", f"/api/v1/revisions/{int(revision)}/rollback", params=params)

    def export(self, select_tags: Sequence[str] = ()) -> Call:
        return self._call("GET", "/api/v1/config", params=_tags("selectTags", select_tags))

    def settings(self) -> Call:
        return self._call("GET", "/api/v1/settings")

    def update_settings(self, document: dict[str, Any]) -> Call:
        return self._call("PATCH", "/api/v1/settings", json=document)

    def create_key(self, consumer: str, document: dict[str, Any]) -> Call:
        return self._call(
            "POST",
            f"/api/v1/consumers/{quote(consumer, safe='')}/keys",
            json=document,
            idempotent=False,
        )

    def list_keys(self) -> Call:
        return self._call("GET", "/api/v1/keys", unwrap="keys")

    def revoke_key(self, key_id: str) -> Call:
        return self._call("DELETE", f"/api/v1/keys/{quote(key_id, safe='')}")

    def list_consumers(self, tags: Sequence[str] = ()) -> Call:
        params = _tags("tags", tags)
        return self._call("GET", "/api/v1/consumers", unwrap="consumers", params=params)

    def put_jwt_provider(self, name: str, document: dict[str, Any]) -> Call:
        return self._call("PUT", f"/api/v1/jwt-providers/{quote(name, safe='')}", json=document)

    def list_jwt_providers(self) -> Call:
        return self._call("GET", "/api/v1/jwt-providers", unwrap="jwtProviders")

    def delete_jwt_provider(self, name: str) -> Call:
        return self._call("DELETE", f"/api/v1/jwt-providers/{quote(name, safe='')}")

    def dataplanes(self) -> Call:
        return self._call("GET", "/api/v1/dataplanes", unwrap="dataplanes")

    def webhooks(self, limit: int) -> Call:
        return self._call(
            "GET", "/api/v1/webhooks", params={"limit": str(limit)}, unwrap="webhooks"
        )

    def metrics(self, kind: str | None, endpoint: str | None, window: str | None) -> Call:
        given = {"type": kind, "endpoint": endpoint, "window": window}
        return self._call("GET", "/api/v1/metrics", params={k: v for k, v in given.items() if v})

    def usage(self, consumer: str | None, model: str | None, window: str | None) -> Call:
        given = {"consumer": consumer, "model": model, "window": window}
        return self._call("GET", "/api/v1/usage", params={k: v for k, v in given.items() if v})


def create_cluster(name: str) -> Call:
    return Call("POST", "/api/v1/clusters", json={"name": name})


def list_clusters() -> Call:
    return Call("GET", "/api/v1/clusters", unwrap="clusters")


def health() -> Call:
    return Call("GET", "/api/v1/health")


def security_document(
    auth: str,
    rate_limit: str | int | None,
    token_limit: str | int | None = None,
    budget: dict[str, Any] | None = None,
    default_max_tokens: int | None = None,
) -> dict[str, Any]:
    """The body of ``PUT /api/v1/security/{endpoint}`` from ``secure``'s arguments."""
    document: dict[str, Any] = {"authType": auth}
    for key, value in (
        ("rateLimit", rate_limit),
        ("tokenLimit", token_limit),
        ("budget", budget),
        ("defaultMaxTokens", default_max_tokens),
    ):
        if value is not None:
            document[key] = value
    return document


def known_cluster(name: str, clusters: list[dict[str, Any]]) -> None:
    """NotFoundError, saying how to create it, when ``name`` is not among ``clusters``."""
    if not any(c.get("name") == name for c in clusters):
        raise NotFoundError(
            f"cluster '{name}' does not exist; connect(cluster={name!r}, create=True) or "
            f"ai-gateway-cli init --cluster {name} creates it",
            status=404,
            code="not_found",
        )


def _tags(name: str, tags: Sequence[str]) -> dict[str, str]:
    return {name: ",".join(tags)} if tags else {}
