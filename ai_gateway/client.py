"""The synchronous SDK: ``AI_Gateway(api_key=...).connect(cluster='aimlops')``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from ai_gateway import calls
from ai_gateway.calls import (
    Call,
    ClusterCalls,
    known_cluster,
    load_document,
    route_document,
    security_document,
)
from ai_gateway.context import resolve_cluster, resolve_key, resolve_url
from ai_gateway.references import resolve_references
from ai_gateway.retry import RetryPolicy
from ai_gateway.shapes import as_list, as_object
from ai_gateway.transport import send_sync


class ClusterClient:
    """Routes, security and config of one cluster."""

    def __init__(self, gateway: AI_Gateway, cluster: str) -> None:
        self._gateway = gateway
        self._calls = ClusterCalls(cluster)
        self.cluster = cluster

    def _send(self, call: Call) -> Any:
        return self._gateway.send(call)

    def create_route(
        self,
        path: str | None = None,
        target: str | None = None,
        *,
        replace: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a route: ``create_route(path="/predict", target="http://ai-service:8080", method="POST")``.

        The same route again answers ``unchanged: True``; another one of that name is a
        ConflictError, unless ``replace=True`` (then ``replaced: True``)."""
        document = route_document(path, target, **fields)
        return as_object(self._send(self._calls.create_route(document, replace)))

    createRoute = create_route

    def list_routes(self, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
        """In match order; with ``tags``, those carrying every one of them."""
        return as_list(self._send(self._calls.list_routes(tags)))

    def get_route(self, route: str) -> dict[str, Any]:
        """``route`` is the id or the name."""
        return as_object(self._send(self._calls.get_route(route)))

    def update_route(self, route: str, **fields: Any) -> dict[str, Any]:
        """Replace the route with these fields (unset ones take their defaults)."""
        return as_object(self._send(self._calls.update_route(route, route_document(**fields))))

    def delete_route(self, route: str) -> dict[str, Any]:
        return as_object(self._send(self._calls.delete_route(route)))

    def secure(
        self,
        endpoint: str,
        auth: str = "none",
        rate_limit: str | int | None = None,
        token_limit: str | int | None = None,
        budget: dict[str, Any] | None = None,
        default_max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """``secure("/predict", auth="jwt", rate_limit="100/min")``; replaces the endpoint's policy.

        ``token_limit="100000/min"``, ``budget={"usd": 50, "per": "month"}`` and
        ``default_max_tokens`` limit an AI endpoint's tokens per consumer."""
        document = security_document(auth, rate_limit, token_limit, budget, default_max_tokens)
        return as_object(self._send(self._calls.secure(endpoint, document)))

    def update_security(self, endpoint: str, **changes: Any) -> dict[str, Any]:
        """Change only the named fields of the endpoint's policy (camelCase, as the REST
        API: ``update_security("/predict", rateLimit="50/min")``); ``None`` removes one."""
        return as_object(self._send(self._calls.update_security(endpoint, changes)))

    def list_security(self, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
        return as_list(self._send(self._calls.list_security(tags)))

    def delete_security(self, endpoint: str) -> dict[str, Any]:
        return as_object(self._send(self._calls.delete_security(endpoint)))

    def apply(
        self,
        config: str | Path | dict[str, Any],
        dry_run: bool = False,
        select_tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Make the cluster hold exactly this document; returns the changes and the revision.
        ``select_tags``: only the routes and policies carrying them (other teams' stay)."""
        document = resolve_references(load_document(config))
        return as_object(self._send(self._calls.apply(document, dry_run, select_tags)))

    def diff(
        self, config: str | Path | dict[str, Any], select_tags: Sequence[str] = ()
    ) -> dict[str, Any]:
        return self.apply(config, dry_run=True, select_tags=select_tags)

    def export(self, select_tags: Sequence[str] = ()) -> dict[str, Any]:
        return as_object(self._send(self._calls.export(select_tags)))

    def history(self) -> list[dict[str, Any]]:
        """The kept revisions, newest first: when, by which admin key, from where, what."""
        return as_list(self._send(self._calls.history()))

    def revision(self, revision: int) -> dict[str, Any]:
        """A kept revision with its whole ``document`` (credentials redacted)."""
        return as_object(self._send(self._calls.revision(revision)))

    def revision_diff(self, revision: int, to: int | None = None) -> dict[str, Any]:
        """What changed from ``revision`` to ``to`` (default: what the cluster holds now)."""
        return as_object(self._send(self._calls.revision_diff(revision, to)))

    def rollback(self, revision: int, dry_run: bool = False) -> dict[str, Any]:
        """Make the cluster hold ``revision``'s document again, as a new revision."""
        return as_object(self._send(self._calls.rollback(revision, dry_run)))

    def settings(self) -> dict[str, Any]:
        return as_object(self._send(self._calls.settings()))

    def set_log_level(self, level: str) -> dict[str, Any]:
        return as_object(self._send(self._calls.update_settings({"logLevel": level})))

    def create_key(
        self, consumer: str, *, expires_in: str | None = None, routes: list[str] | None = None
    ) -> dict[str, Any]:
        """A new API key for ``consumer`` (created if missing); ``["key"]`` is the only copy of it."""
        document: dict[str, Any] = {"routes": routes or []}
        if expires_in is not None:
            document["expiresIn"] = expires_in
        return as_object(self._send(self._calls.create_key(consumer, document)))

    def list_keys(self) -> list[dict[str, Any]]:
        return as_list(self._send(self._calls.list_keys()))

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return as_object(self._send(self._calls.revoke_key(key_id)))

    def list_consumers(self, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
        return as_list(self._send(self._calls.list_consumers(tags)))

    def put_jwt_provider(self, name: str, **fields: Any) -> dict[str, Any]:
        """``put_jwt_provider("auth0", algorithms=["RS256"], jwksUrl=..., issuer=..., audiences=[...])``."""
        return as_object(self._send(self._calls.put_jwt_provider(name, fields)))

    def list_jwt_providers(self) -> list[dict[str, Any]]:
        return as_list(self._send(self._calls.list_jwt_providers()))

    def delete_jwt_provider(self, name: str) -> dict[str, Any]:
        return as_object(self._send(self._calls.delete_jwt_provider(name)))

    def dataplanes(self) -> list[dict[str, Any]]:
        return as_list(self._send(self._calls.dataplanes()))

    def webhooks(self, limit: int = 100) -> list[dict[str, Any]]:
        """The cluster's recent webhook events (``callback:``), newest first, with delivery state."""
        return as_list(self._send(self._calls.webhooks(limit)))

    def metrics(
        self, type: str | None = None, endpoint: str | None = None, window: str | None = None
    ) -> dict[str, Any]:
        """Fleet metrics over ``window`` (default 5m): p50/p90/p99 latency, traffic and errors
        per route and in total; ``type`` one of latency, traffic, errors, tokens (per model);
        ``endpoint`` a path."""
        return as_object(self._send(self._calls.metrics(type, endpoint, window)))

    def usage(
        self, consumer: str | None = None, model: str | None = None, window: str | None = None
    ) -> dict[str, Any]:
        """Requests, tokens by type and cost per consumer and model over ``window`` (default
        1h), from every data plane; ``consumer`` and ``model`` narrow it."""
        return as_object(self._send(self._calls.usage(consumer, model, window)))


class AI_Gateway:
    """A client of the gateway's admin API.

    ``api_key`` falls back to ``$AI_GATEWAY_API_KEY`` (then the key saved by
    ``ai-gateway-cli init``); ``url`` to ``$AI_GATEWAY_URL``, the saved
    context, then http://127.0.0.1:8081.
    """

    def __init__(
        self,
        api_key: str | None = None,
        url: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_key = resolve_key(api_key)
        self.url = resolve_url(url)
        self.retry = RetryPolicy(max_retries=max_retries)
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.api_key}"},
            transport=transport,
        )

    def send(self, call: Call) -> Any:
        return send_sync(self._http, call, self.retry)

    def connect(self, cluster: str | None = None, *, create: bool = False) -> ClusterClient:
        """A client for one cluster (``create=True`` creates it when missing). One call
        checks the URL, the key and the cluster now: a wrong one raises its typed error
        here (GatewayConnectionError, AuthenticationError, NotFoundError), not at first use."""
        name = resolve_cluster(cluster)
        if create:
            self.create_cluster(name)
        else:
            known_cluster(name, self.clusters())
        return ClusterClient(self, name)

    def create_cluster(self, name: str) -> dict[str, Any]:
        return as_object(self.send(calls.create_cluster(name)))

    def clusters(self) -> list[dict[str, Any]]:
        return as_list(self.send(calls.list_clusters()))

    def health(self) -> dict[str, Any]:
        return as_object(self.send(calls.health()))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AI_Gateway:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
