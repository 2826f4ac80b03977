"""The asyncio SDK: the same calls as ``AI_Gateway``, awaited."""

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
from ai_gateway.transport import send_async


class AsyncClusterClient:
    def __init__(self, gateway: AsyncAIGateway, cluster: str) -> None:
        self._gateway = gateway
        self._calls = ClusterCalls(cluster)
        self.cluster = cluster

    async def _send(self, call: Call) -> Any:
        return await self._gateway.send(call)

    async def create_route(
        self,
        path: str | None = None,
        target: str | None = None,
        *,
        replace: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        document = route_document(path, target, **fields)
        return as_object(await self._send(self._calls.create_route(document, replace)))

    createRoute = create_route

    async def list_routes(self, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
        """In match order; with ``tags``, those carrying every one of them."""
        return as_list(await self._send(self._calls.list_routes(tags)))

    async def get_route(self, route: str) -> dict[str, Any]:
        return as_object(await self._send(self._calls.get_route(route)))

    async def update_route(self, route: str, **fields: Any) -> dict[str, Any]:
        return as_object(
            await self._send(self._calls.update_route(route, route_document(**fields)))
        )

    async def delete_route(self, route: str) -> dict[str, Any]:
        return as_object(await self._send(self._calls.delete_route(route)))

    async def secure(
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
        return as_object(await self._send(self._calls.secure(endpoint, document)))

    async def update_security(self, endpoint: str, **changes: Any) -> dict[str, Any]:
        """Change only the named fields of the endpoint's policy (camelCase, as the REST
        API: ``update_security("/predict", rateLimit="50/min")``); ``None`` removes one."""
        return as_object(await self._send(self._calls.update_security(endpoint, changes)))

    async def list_security(self, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
        return as_list(await self._send(self._calls.list_security(tags)))

    async def apply(
        self,
        config: str | Path | dict[str, Any],
        dry_run: bool = False,
        select_tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        document = resolve_references(load_document(config))
        return as_object(await self._send(self._calls.apply(document, dry_run, select_tags)))

    async def export(self, select_tags: Sequence[str] = ()) -> dict[str, Any]:
        return as_object(await self._send(self._calls.export(select_tags)))

    async def history(self) -> list[dict[str, Any]]:
        return as_list(await self._send(self._calls.history()))

    async def revision(self, revision: int) -> dict[str, Any]:
        return as_object(await self._send(self._calls.revision(revision)))

    async def revision_diff(self, revision: int, to: int | None = None) -> dict[str, Any]:
        return as_object(await self._send(self._calls.revision_diff(revision, to)))

    async def rollback(self, revision: int, dry_run: bool = False) -> dict[str, Any]:
        return as_object(await self._send(self._calls.rollback(revision, dry_run)))

    async def dataplanes(self) -> list[dict[str, Any]]:
        return as_list(await self._send(self._calls.dataplanes()))

    async def webhooks(self, limit: int = 100) -> list[dict[str, Any]]:
        """The cluster's recent webhook events (``callback:``), newest first, with delivery state."""
        return as_list(await self._send(self._calls.webhooks(limit)))

    async def metrics(
        self, type: str | None = None, endpoint: str | None = None, window: str | None = None
    ) -> dict[str, Any]:
        """Fleet metrics over ``window`` (default 5m): p50/p90/p99 latency, traffic and errors
        per route and in total; ``type`` one of latency, traffic, errors, tokens (per model);
        ``endpoint`` a path."""
        return as_object(await self._send(self._calls.metrics(type, endpoint, window)))

    async def usage(
        self, consumer: str | None = None, model: str | None = None, window: str | None = None
    ) -> dict[str, Any]:
        """Requests, tokens by type and cost per consumer and model over ``window`` (default
        1h), from every data plane; ``consumer`` and ``model`` narrow it."""
        return as_object(await self._send(self._calls.usage(consumer, model, window)))


class AsyncAIGateway:
    def __init__(
        self,
        api_key: str | None = None,
        url: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_key = resolve_key(api_key)
        self.url = resolve_url(url)
        self.retry = RetryPolicy(max_retries=max_retries)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.api_key}"},
            transport=transport,
        )

    async def send(self, call: Call) -> Any:
        return await send_async(self._http, call, self.retry)

    async def connect(
        self, cluster: str | None = None, *, create: bool = False
    ) -> AsyncClusterClient:
        name = resolve_cluster(cluster)
        if create:
            await self.send(calls.create_cluster(name))
        else:
            known_cluster(name, await self.clusters())
        return AsyncClusterClient(self, name)

    async def clusters(self) -> list[dict[str, Any]]:
        return as_list(await self.send(calls.list_clusters()))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAIGateway:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
