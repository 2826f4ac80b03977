"""The admin operations, shared by the REST and the gRPC edges.

Input arrives as plain documents (parsed JSON/YAML or mapped protobuf),
is validated here into config models, written through the store, and the
cluster's snapshot is rebuilt at once so data planes see it within a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from control_plane.domain.config import GatewayConfig, exported_document
from control_plane.domain.diff import ConfigDiff, diff_config
from control_plane.domain.identity import ApiKeyRequest, ConsumerSpec, JwtProviderSpec
from control_plane.domain.route import RouteSpec
from control_plane.domain.security import SecuritySpec, normalise_endpoint
from control_plane.domain.validation import parse
from control_plane.errors import Conflict, InvalidInput, NotFound
from control_plane.snapshot.discovered_routes import ServedRoute, served_routes
from control_plane.snapshot.watcher import RevisionWatcher
from control_plane.store.config_store import ConfigStore
from control_plane.store.dataplane_store import DataPlaneStore
from control_plane.store.identity_store import IdentityStore
from control_plane.store.records import (
    ApiKeyRecord,
    ClusterRecord,
    ConsumerRecord,
    DataPlaneRecord,
    RouteRecord,
    SecurityRecord,
    WebhookRecord,
    iso,
)
from control_plane.store.revision_history import RevisionEntry
from control_plane.store.telemetry_store import TelemetryStore
from control_plane.store.webhook_outbox import WebhookOutbox
from control_plane.telemetry.summary import parse_types, parse_window, summarize
from control_plane.telemetry.usage import token_summary, usage_summary


class AdminService:
    def __init__(
        self,
        store: ConfigStore,
        dataplanes: DataPlaneStore,
        watcher: RevisionWatcher,
        default_cluster: str,
        telemetry: TelemetryStore | None = None,
        outbox: WebhookOutbox | None = None,
    ) -> None:
        self.store = store
        self.identities = IdentityStore(store)
        self.dataplanes = dataplanes
        self.watcher = watcher
        self.default_cluster = default_cluster
        self.telemetry = telemetry or TelemetryStore(store.engine)
        self.outbox = outbox or WebhookOutbox(store.engine)

    def cluster(self, name: str | None) -> str:
        return name or self.default_cluster

    # clusters
    async def ensure_cluster(self, name: str) -> tuple[ClusterRecord, bool]:
        record, created = await self.store.ensure_cluster(name)
        if created:
            await self.watcher.refresh(name)
        return record, created

    async def list_clusters(self) -> list[dict[str, Any]]:
        """Each cluster with, when its current revision does not build, why (``error``)."""
        failures = self.watcher.failures
        return [
            {**record.to_json(), "error": failures.get(record.name)}
            for record in await self.store.list_clusters()
        ]

    # routes
    async def create_route(
        self, cluster: str | None, document: Any, replace: bool = False
    ) -> tuple[RouteRecord, int, str]:
        """The route, the revision, and what happened (created, unchanged, replaced)."""
        spec = parse(RouteSpec, document)
        return await self.store.create_route(self.cluster(cluster), spec, replace)

    async def update_route(
        self, cluster: str | None, id_or_name: str, document: Any
    ) -> tuple[RouteRecord, int]:
        spec = parse(RouteSpec, document)
        cluster = self.cluster(cluster)
        try:
            record, revision = await self.store.update_route(cluster, id_or_name, spec)
        except NotFound:
            await self._not_discovered(cluster, id_or_name)
            raise
        return record, revision

    async def delete_route(self, cluster: str | None, id_or_name: str) -> int:
        cluster = self.cluster(cluster)
        try:
            return await self.store.delete_route(cluster, id_or_name)
        except NotFound:
            await self._not_discovered(cluster, id_or_name)
            raise

    async def _not_discovered(self, cluster: str, id_or_name: str) -> None:
        """Conflict (409) when ``id_or_name`` is a route made from pods: it is theirs."""
        for route in (await self.routes_served(cluster))["routes"]:
            if route.get("origin") == "kubernetes" and id_or_name in (route["id"], route["name"]):
                pods = ", ".join(t["pod"] for t in route["discoveredTargets"])
                raise Conflict(
                    f"route '{route['name']}' is made from annotated pods ({pods}); change or "
                    "remove their aimlops/gateway annotations instead"
                )

    async def list_routes(self, cluster: str | None) -> list[RouteRecord]:
        return await self.store.list_routes(self.cluster(cluster))

    async def get_route(self, cluster: str | None, id_or_name: str) -> RouteRecord:
        return await self.store.get_route(self.cluster(cluster), id_or_name)

    async def routes_served(self, cluster: str | None) -> dict[str, Any]:
        """The routes as the data planes get them: the user's (with the pods that joined
        them as ``discoveredTargets``), then the routes made from pods (``origin:
        kubernetes``), and ``unplacedPods`` naming a route that does not exist."""
        name = self.cluster(cluster)
        state = await self.store.state(name)
        served = served_routes(state.routes, state.discovered)
        records = {record.name: record for record in state.routes}
        routes = []
        for route in served.routes:
            record = None if route.discovered else records.get(route.name)
            document = (
                record.to_json()
                if record is not None
                else {
                    "id": route.id,
                    **route.spec.model_dump(mode="json"),
                    "name": route.name,
                    "cluster": name,
                    "origin": "kubernetes",
                }
            )
            routes.append(_served_json(route, document))
        answer: dict[str, Any] = {"routes": routes}
        if served.unplaced:
            answer["unplacedPods"] = [b.to_json() for b in served.unplaced]
        return answer

    async def route_served(self, cluster: str | None, id_or_name: str) -> dict[str, Any]:
        """One route of ``routes_served``, by id or name."""
        for route in (await self.routes_served(cluster))["routes"]:
            if id_or_name in (route["id"], route["name"]):
                return dict(route)
        raise NotFound(f"route '{id_or_name}' not found; list them with GET /api/v1/routes")

    # security
    async def put_security(
        self, cluster: str | None, endpoint: str, document: Any
    ) -> tuple[SecurityRecord, bool, int]:
        """The endpoint in the URL wins; a different one in the body is a mistake."""
        endpoint = self._policy_endpoint(endpoint, document)
        spec = parse(SecuritySpec, {**document, "endpoint": endpoint})
        cluster = self.cluster(cluster)
        await self._check_providers(cluster, spec.jwt_providers)
        record, created, revision = await self.store.put_security(cluster, spec)
        return record, created, revision

    async def patch_security(
        self, cluster: str | None, endpoint: str, changes: Any
    ) -> tuple[SecurityRecord, bool, int]:
        """Change only the fields ``changes`` names (null removes one): a JSON merge patch
        onto the endpoint's policy, or onto a new one."""
        endpoint = self._policy_endpoint(endpoint, changes)
        cluster = self.cluster(cluster)
        providers = changes.get("jwtProviders") or changes.get("jwt_providers")
        if isinstance(providers, list):
            await self._check_providers(cluster, tuple(str(p) for p in providers))
        return await self.store.patch_security(cluster, endpoint, changes)

    async def policy_warnings(self, cluster: str | None, record: SecurityRecord) -> list[str]:
        """What will go wrong with a policy as stored: a JWT endpoint with no JWT provider."""
        return await self._jwt_warnings(self.cluster(cluster), (record.spec,))

    async def _jwt_warnings(self, cluster: str, policies: Iterable[SecuritySpec]) -> list[str]:
        needing = [p.endpoint for p in policies if p.auth == "jwt" and not p.jwt_providers]
        if not needing or (await self.identities.read(cluster)).jwt_providers:
            return []
        return [
            f"{endpoint} requires a JWT but the cluster has no JWT provider: every "
            "request gets 401 until you add one (ai-gateway-cli jwt add NAME --jwks-url URL, "
            "or PUT /api/v1/jwt-providers/{name})"
            for endpoint in needing
        ]

    def _policy_endpoint(self, endpoint: str, document: Any) -> str:
        if not isinstance(document, dict):
            raise InvalidInput("body: expected a JSON object", field="body")
        try:
            endpoint = normalise_endpoint(endpoint)
        except ValueError as exc:
            raise InvalidInput(f"endpoint: {exc}", field="endpoint") from None
        if "endpoint" in document:
            try:
                in_body = normalise_endpoint(str(document["endpoint"]))
            except ValueError:
                in_body = str(document["endpoint"])
            if in_body != endpoint:
                raise InvalidInput(
                    f"endpoint: the body says '{document['endpoint']}' but the URL says "
                    f"'{endpoint}'; remove it from the body or make them agree",
                    field="endpoint",
                )
        return endpoint

    async def _check_providers(self, cluster: str, providers: tuple[str, ...]) -> None:
        if not providers:
            return
        known = {p.name for p in (await self.identities.read(cluster)).jwt_providers}
        missing = [name for name in providers if name not in known]
        if missing:
            raise InvalidInput(
                f"jwtProviders: no JWT provider named {missing[0]!r}; create it first "
                "(PUT /api/v1/jwt-providers/{name})",
                field="jwtProviders",
                unprocessable=True,
            )

    async def list_security(self, cluster: str | None) -> list[SecurityRecord]:
        return await self.store.list_security(self.cluster(cluster))

    async def get_security(self, cluster: str | None, endpoint: str) -> SecurityRecord:
        return await self.store.get_security(self.cluster(cluster), endpoint)

    async def delete_security(self, cluster: str | None, endpoint: str) -> int:
        cluster = self.cluster(cluster)
        return await self.store.delete_security(cluster, endpoint)

    # settings
    async def update_settings(
        self, cluster: str | None, document: Any
    ) -> tuple[dict[str, Any], int]:
        if not isinstance(document, dict):
            raise InvalidInput("body: expected a JSON object", field="body")
        cluster = self.cluster(cluster)
        settings, revision = await self.store.update_settings(cluster, document)
        return settings.model_dump(mode="json"), revision

    # the whole document
    async def apply(
        self,
        cluster: str | None,
        document: Any,
        *,
        dry_run: bool,
        select_tags: tuple[str, ...] = (),
    ) -> tuple[ConfigDiff, int, list[str]]:
        """The difference, the revision, and what will go wrong with the document's policies."""
        config = parse(GatewayConfig, document)
        cluster = self.cluster(cluster or config.cluster)
        diff, revision = await self.store.apply(
            cluster, config, dry_run=dry_run, select_tags=select_tags
        )
        return diff, revision, await self._jwt_warnings(cluster, config.security)

    # history
    async def history(self, cluster: str | None) -> list[RevisionEntry]:
        return await self.store.history(self.cluster(cluster))

    async def revision(self, cluster: str | None, revision: int) -> dict[str, Any]:
        """A kept revision: who made it, and its document as ``export`` shows it."""
        entry, config = await self.store.revision_document(self.cluster(cluster), revision)
        return {**entry.to_json(), "document": exported_document(config)}

    async def revision_diff(self, cluster: str | None, revision: int, to: int | None) -> ConfigDiff:
        """From revision ``revision`` to revision ``to`` (None: what the cluster holds now)."""
        cluster = self.cluster(cluster)
        _, before = await self.store.revision_document(cluster, revision)
        if to is None:  # the history keeps no consumers or providers: leave them out of it
            now = await self.store.export(cluster)
            after = now.model_copy(update={"consumers": None, "jwt_providers": None})
        else:
            after = (await self.store.revision_document(cluster, to))[1]
        return diff_config(before, after)

    async def rollback(
        self, cluster: str | None, revision: int, *, dry_run: bool
    ) -> tuple[ConfigDiff, int, list[str]]:
        """Make the cluster hold revision ``revision``'s document again: a new revision (or,
        ``dry_run``, the difference), through ``apply``'s checks like any change."""
        cluster = self.cluster(cluster)
        _, config = await self.store.revision_document(cluster, revision)
        diff, new_revision = await self.store.apply(
            cluster, config, dry_run=dry_run, action=f"rollback to {revision}"
        )
        return diff, new_revision, await self._jwt_warnings(cluster, config.security)

    async def export(self, cluster: str | None) -> GatewayConfig:
        return await self.store.export(self.cluster(cluster))

    async def list_dataplanes(self, cluster: str | None) -> list[DataPlaneRecord]:
        return await self.dataplanes.list(cluster)

    async def dataplane_views(self, cluster: str | None) -> list[dict[str, Any]]:
        """Each data plane's record, with backend health and requests in flight from its last
        telemetry report."""
        records = await self.dataplanes.list(cluster)
        reports = await self.telemetry.reports(cluster)
        views = []
        for record in records:
            view = record.to_json()
            report = reports.get((record.cluster, record.node_id))
            view["targets"] = report.health if report else []
            view["inFlight"] = report.in_flight if report else None
            view["lastReport"] = iso(report.reported_at) if report else None
            views.append(view)
        return views

    async def webhooks(self, cluster: str | None, limit: int = 100) -> list[WebhookRecord]:
        """The cluster's most recent webhook events, newest first, with their delivery state."""
        return await self.outbox.recent(self.cluster(cluster), limit)

    # fleet metrics

    async def metrics(
        self,
        cluster: str | None,
        *,
        kind: str | None = None,
        endpoint: str | None = None,
        window: str = "5m",
    ) -> dict[str, Any]:
        """Latency, traffic and errors the cluster's data planes reported over ``window``."""
        name = self.cluster(cluster)
        seconds = parse_window(window)
        types = parse_types(kind)
        routes = await self.store.list_routes(name)
        only = None
        if endpoint == "":
            raise InvalidInput(
                "endpoint: give a route's path or name, or leave it out", field="endpoint"
            )
        if endpoint is not None:
            only = {r.name for r in routes if endpoint in (r.spec.path, r.name)}
            if not only:
                raise NotFound(
                    f"endpoint: no route of cluster {name} has the path or name '{endpoint}'; "
                    "see ai-gateway-cli routes list",
                    field="endpoint",
                )
        traffic = await self.telemetry.window(name, seconds)
        if types == ("tokens",):
            if only is not None:
                traffic = traffic.only_routes(only)
            summary = token_summary(traffic, seconds)
        else:
            summary = summarize(
                traffic, types, seconds, {r.name: r.spec.path for r in routes}, only
            )
        return {
            "cluster": name,
            "type": types[0] if len(types) == 1 else "all",
            "endpoint": endpoint or None,
            "window": window,
            "windowSeconds": seconds,
            "dataPlanes": await self.telemetry.reporting(name, seconds),
            **summary,
        }

    async def usage(
        self,
        cluster: str | None,
        *,
        consumer: str | None = None,
        model: str | None = None,
        window: str = "1h",
    ) -> dict[str, Any]:
        """Requests, tokens and cost per consumer (and model) the data planes reported."""
        name = self.cluster(cluster)
        seconds = parse_window(window)
        for field, value in (("consumer", consumer), ("model", model)):
            if value is not None and not 0 < len(value) <= 256:
                raise InvalidInput(f"{field}: give 1-256 characters, or leave it out", field=field)
        summary = usage_summary(await self.telemetry.window(name, seconds), consumer, model)
        caller = f"consumer:{consumer}" if consumer is not None else None
        return {
            "cluster": name,
            "window": window,
            "windowSeconds": seconds,
            "consumer": consumer,
            "model": model,
            "dataPlanes": await self.telemetry.reporting(name, seconds),
            **summary,
            # What each budget has charged in its period, from the ledger (not the window).
            "budgets": await self.telemetry.budgets(name, caller),
            # What each token limit's window holds (its own period, not the window).
            "limits": await self.telemetry.limit_windows(name, caller),
        }

    # consumers, keys and JWT providers
    async def create_consumer(
        self, cluster: str | None, document: Any
    ) -> tuple[ConsumerRecord, int]:
        spec = parse(ConsumerSpec, document)
        cluster = self.cluster(cluster)
        record, revision = await self.identities.create_consumer(cluster, spec)
        return record, revision

    async def list_consumers(self, cluster: str | None) -> list[ConsumerRecord]:
        return list((await self.identities.read(self.cluster(cluster))).consumers)

    async def delete_consumer(self, cluster: str | None, name: str) -> int:
        cluster = self.cluster(cluster)
        return await self.identities.delete_consumer(cluster, name)

    async def create_key(
        self, cluster: str | None, consumer: str, document: Any
    ) -> tuple[ApiKeyRecord, str, int]:
        request = parse(ApiKeyRequest, document)
        try:
            ConsumerSpec(name=consumer)
        except ValueError as exc:
            raise InvalidInput(f"consumer: {exc}", field="consumer") from None
        cluster = self.cluster(cluster)
        record, plaintext, revision = await self.identities.create_key(cluster, consumer, request)
        return record, plaintext, revision

    async def list_keys(self, cluster: str | None) -> list[ApiKeyRecord]:
        consumers = (await self.identities.read(self.cluster(cluster))).consumers
        return [key for consumer in consumers for key in consumer.keys]

    async def revoke_key(self, cluster: str | None, key_id: str) -> int:
        cluster = self.cluster(cluster)
        return await self.identities.revoke_key(cluster, key_id)

    async def put_jwt_provider(
        self, cluster: str | None, name: str, document: Any
    ) -> tuple[JwtProviderSpec, bool, int]:
        if not isinstance(document, dict):
            raise InvalidInput("body: expected a JSON object", field="body")
        spec = parse(JwtProviderSpec, {**document, "name": name})
        cluster = self.cluster(cluster)
        created, revision = await self.identities.put_jwt_provider(cluster, spec)
        return spec, created, revision

    async def list_jwt_providers(self, cluster: str | None) -> list[JwtProviderSpec]:
        return list((await self.identities.read(self.cluster(cluster))).jwt_providers)

    async def delete_jwt_provider(self, cluster: str | None, name: str) -> int:
        cluster = self.cluster(cluster)
        return await self.identities.delete_jwt_provider(cluster, name)


def _served_json(route: ServedRoute, document: dict[str, Any]) -> dict[str, Any]:
    if route.pods:
        document["discoveredTargets"] = [{"pod": b.pod, "url": b.url} for b in route.pods]
    return document
