"""Every configuration change is one transaction that also bumps the cluster's revision.

The revision is what other control-plane replicas watch to pick up a change;
a change that changes nothing (the same document applied twice) commits
nothing and keeps the revision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from control_plane.domain.config import GatewayConfig, SettingsSpec, check_cluster_name
from control_plane.domain.diff import ConfigDiff, diff_config, route_documents
from control_plane.domain.route import RouteSpec
from control_plane.domain.security import SecuritySpec, merged_policy
from control_plane.domain.tagged_documents import whole_document
from control_plane.domain.validation import parse, read_stored
from control_plane.errors import Conflict, InvalidInput, NotFound, StoredRowInvalid
from control_plane.kubernetes.pod_backends import DiscoveredBackend
from control_plane.snapshot.builder import RouteProtos, build
from control_plane.store.document_rows import (
    check_consistent,
    config_from_rows,
    config_of,
    desired_with_secrets,
    find_route,
    find_security,
    holds_what_is_given,
    kept_secrets,
    new_id,
    parsed_as_written,
    route_json,
    route_record,
    security_record,
    sync_routes,
    sync_security,
)
from control_plane.store.identity_rows import read_identities
from control_plane.store.identity_sync import (
    sync_consumers,
    sync_jwt_providers,
)
from control_plane.store.parsed_routes import ParsedRoutes
from control_plane.store.records import (
    ClusterRecord,
    ClusterState,
    RouteRecord,
    SecurityRecord,
)
from control_plane.store.revision_history import (
    DEFAULT_KEEP,
    RevisionDocument,
    RevisionEntry,
    canonical_document,
    history,
    record_revision,
    revision_document,
)
from control_plane.store.snapshot_rows import StoredSnapshot, load_snapshot, save_snapshot
from control_plane.store.tables import (
    ClusterRow,
    DiscoveredBackendRow,
    RouteRow,
    SecurityPolicyRow,
)
from control_plane.store.webhook_outbox import new_event

log = logging.getLogger("ai_gateway.control_plane.store")


OnCommit = Callable[[StoredSnapshot], Awaitable[None]]


class ConfigStore:
    """Routes, security policies and cluster settings, per cluster, in SQL.

    A change commits only with the snapshot it produces: ``write`` builds that snapshot
    inside the transaction (a change that cannot be served is rolled back with 422) and
    stores it beside the rows; ``on_commit`` hears it once the transaction is durable.
    """

    def __init__(self, engine: AsyncEngine, history_keep: int = DEFAULT_KEEP) -> None:
        self.engine = engine
        self.history_keep = history_keep  # revisions whose documents are kept per cluster
        self._parsed_routes = ParsedRoutes(route_record)
        self.route_protos = RouteProtos()  # one per store: the clusters' messages, kept
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer; serialising here avoids "database is locked".
        # PostgreSQL serialises writers of one cluster with a row lock instead.
        self._sqlite_writes = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self.on_commit: OnCommit | None = None

    @asynccontextmanager
    async def write(
        self, cluster: str, action: str = "change", announce: bool = True
    ) -> AsyncIterator[tuple[AsyncSession, ClusterRow]]:
        """A transaction holding the cluster's row lock; bump ``row.revision`` to publish
        (``announce``: with a ``config.applied`` webhook event). A new revision's document
        goes into the history as ``action``, by whoever CHANGE_AUTHOR names."""
        if self._sqlite_writes is not None:
            await self._sqlite_writes.acquire()
        built: StoredSnapshot | None = None
        try:
            async with self._sessions() as session, session.begin():
                row = await session.scalar(
                    select(ClusterRow).where(ClusterRow.name == cluster).with_for_update()
                )
                if row is None:
                    raise _cluster_not_found(cluster)
                before = row.revision
                yield session, row
                if row.revision != before:
                    built, document = await self._servable(session, row)
                    await save_snapshot(session, built.snapshot, built.settings)
                    await record_revision(session, row, document, action, self.history_keep)
                    if row.callback and announce:
                        # In the change's own transaction: the event exists exactly when it does.
                        session.add(
                            new_event(
                                cluster,
                                row.callback,
                                "config.applied",
                                {"revision": row.revision, "previousRevision": before},
                                time.time(),
                            )
                        )
        finally:
            if self._sqlite_writes is not None:
                self._sqlite_writes.release()
        if built is not None and self.on_commit is not None:
            await self.on_commit(built)

    async def _servable(
        self, session: AsyncSession, row: ClusterRow
    ) -> tuple[StoredSnapshot, RevisionDocument]:
        """The snapshot the change produces, read inside its transaction, with the document
        for the history; InvalidInput (422) when it cannot be built, so that nothing is
        committed that data planes cannot get."""
        try:
            state, document = await self._read_state(session, row)
        except StoredRowInvalid as exc:
            raise InvalidInput(
                f"the change was not stored: {exc.message}", unprocessable=True
            ) from None
        check_consistent(state)
        # CPU work off the event loop, the two side by side (hashing and compressing the
        # document release the GIL).
        revision = asyncio.to_thread(
            RevisionDocument.of, document, len(state.routes), len(state.security)
        )
        try:
            built, kept = await asyncio.gather(
                asyncio.to_thread(build, state, self.route_protos), revision
            )
        except Exception as exc:  # whatever it is, the change must not commit
            log.warning("cluster %s: a change's snapshot did not build", row.name, exc_info=True)
            raise InvalidInput(
                f"the change was not stored: its snapshot cannot be built ({exc})",
                unprocessable=True,
            ) from None
        return StoredSnapshot(built.snapshot, dict(state.settings), built.route_bytes), kept

    @staticmethod
    def bump(row: ClusterRow, now: float) -> int:
        row.revision += 1
        row.updated_at = now
        return row.revision

    # -- clusters -----------------------------------------------------------

    async def ensure_cluster(self, name: str) -> tuple[ClusterRecord, bool]:
        """Create the cluster if it does not exist; True when it was created."""
        try:
            check_cluster_name(name)
        except ValueError as exc:
            raise InvalidInput(f"cluster: {exc}", field="cluster") from None
        async with self._sessions() as session:
            row = await session.get(ClusterRow, name)
            if row is not None:
                return ClusterRecord(row.name, row.revision, row.created_at), False
            now = time.time()
            session.add(
                ClusterRow(name=name, revision=0, settings={}, created_at=now, updated_at=now)
            )
            try:
                await session.commit()
            except IntegrityError:  # another replica created it first
                await session.rollback()
                row = await session.get(ClusterRow, name)
                assert row is not None
                return ClusterRecord(row.name, row.revision, row.created_at), False
            return ClusterRecord(name, 0, now), True

    async def list_clusters(self) -> list[ClusterRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(select(ClusterRow).order_by(ClusterRow.name))
            return [ClusterRecord(r.name, r.revision, r.created_at) for r in rows]

    async def revisions(self) -> dict[str, int]:
        async with self._sessions() as session:
            result = await session.execute(select(ClusterRow.name, ClusterRow.revision))
            return {name: revision for name, revision in result.all()}

    async def revision(self, cluster: str) -> int:
        async with self._sessions() as session:
            revision = await session.scalar(
                select(ClusterRow.revision).where(ClusterRow.name == cluster)
            )
            if revision is None:
                raise _cluster_not_found(cluster)
            return revision

    # -- routes -------------------------------------------------------------

    async def list_routes(self, cluster: str) -> list[RouteRecord]:
        async with self._sessions() as session:
            await self._require_cluster(session, cluster)
            rows = await session.scalars(
                select(RouteRow).where(RouteRow.cluster == cluster).order_by(RouteRow.position)
            )
            return [route_record(r) for r in rows]

    async def get_route(self, cluster: str, id_or_name: str) -> RouteRecord:
        async with self._sessions() as session:
            await self._require_cluster(session, cluster)
            return route_record(await find_route(session, cluster, id_or_name))

    async def create_route(
        self, cluster: str, spec: RouteSpec, replace: bool = False
    ) -> tuple[RouteRecord, int, str]:
        """The route, the revision, and what happened: created; unchanged (a route of that
        name is the same already: the same command run twice); replaced (another one was
        there, and ``replace``). Another route without ``replace`` is a Conflict that says
        how to replace it."""
        name = spec.effective_name
        async with self.write(cluster, f"create route {name}") as (session, cluster_row):
            taken = await session.scalar(
                select(RouteRow).where(RouteRow.cluster == cluster, RouteRow.name == name)
            )
            if taken is not None:
                kept = route_record(taken)
                wanted = route_json(kept_secrets(spec, kept.spec), name)
                stored = route_json(kept.spec, name)
                if stored == wanted or (not replace and holds_what_is_given(stored, wanted, spec)):
                    return kept, cluster_row.revision, "unchanged"
                if replace:
                    now = time.time()
                    taken.spec, taken.updated_at = wanted, now
                    return route_record(taken), self.bump(cluster_row, now), "replaced"
                targets = ", ".join(t.url for t in kept.spec.targets)
                raise Conflict(
                    f"route '{name}' already exists in cluster '{cluster}' (path "
                    f"{kept.spec.path}, targets {targets}); replace it with PUT "
                    f'/api/v1/routes/{name}, or give this one another "name"',
                    field="name",
                )
            position = await session.scalar(
                select(func.coalesce(func.max(RouteRow.position) + 1, 0)).where(
                    RouteRow.cluster == cluster
                )
            )
            now = time.time()
            row = RouteRow(
                id=new_id(),
                cluster=cluster,
                name=name,
                position=int(position or 0),
                spec=route_json(kept_secrets(spec, None), name),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            revision = self.bump(cluster_row, now)
        return route_record(row), revision, "created"

    async def update_route(
        self, cluster: str, id_or_name: str, spec: RouteSpec
    ) -> tuple[RouteRecord, int]:
        async with self.write(cluster, f"update route {id_or_name}") as (session, cluster_row):
            row = await find_route(session, cluster, id_or_name)
            name = spec.name or row.name
            if name != row.name:
                taken = await session.scalar(
                    select(RouteRow.id).where(RouteRow.cluster == cluster, RouteRow.name == name)
                )
                if taken is not None:
                    raise Conflict(
                        f"route name '{name}' already exists in cluster '{cluster}'", field="name"
                    )
            new_spec = route_json(kept_secrets(spec, route_record(row).spec), name)
            revision = cluster_row.revision
            if new_spec != row.spec:
                now = time.time()
                row.name, row.spec, row.updated_at = name, new_spec, now
                revision = self.bump(cluster_row, now)
        return route_record(row), revision

    async def delete_route(self, cluster: str, id_or_name: str) -> int:
        async with self.write(cluster, f"delete route {id_or_name}") as (session, cluster_row):
            row = await find_route(session, cluster, id_or_name)
            await session.delete(row)
            return self.bump(cluster_row, time.time())

    # -- security -----------------------------------------------------------

    async def list_security(self, cluster: str) -> list[SecurityRecord]:
        async with self._sessions() as session:
            await self._require_cluster(session, cluster)
            rows = await session.scalars(
                select(SecurityPolicyRow)
                .where(SecurityPolicyRow.cluster == cluster)
                .order_by(SecurityPolicyRow.endpoint)
            )
            return [security_record(r) for r in rows]

    async def get_security(self, cluster: str, endpoint: str) -> SecurityRecord:
        async with self._sessions() as session:
            await self._require_cluster(session, cluster)
            return security_record(await find_security(session, cluster, endpoint))

    async def put_security(
        self, cluster: str, spec: SecuritySpec
    ) -> tuple[SecurityRecord, bool, int]:
        """Create or replace the endpoint's policy; True when it was created."""
        return await self._store_policy(
            cluster, spec.endpoint, lambda _current: spec, f"put security {spec.endpoint}"
        )

    async def patch_security(
        self, cluster: str, endpoint: str, changes: dict[str, Any]
    ) -> tuple[SecurityRecord, bool, int]:
        """Merge ``changes`` into the endpoint's policy (a new one from the defaults), in one
        transaction: two changes to one policy at once both hold. True when it was created."""

        def merged(current: dict[str, Any] | None) -> SecuritySpec:
            base = current if current is not None else {"endpoint": endpoint}
            return parse(SecuritySpec, {**merged_policy(base, changes), "endpoint": endpoint})

        return await self._store_policy(cluster, endpoint, merged, f"patch security {endpoint}")

    async def _store_policy(
        self,
        cluster: str,
        endpoint: str,
        spec_of: Callable[[dict[str, Any] | None], SecuritySpec],
        action: str,
    ) -> tuple[SecurityRecord, bool, int]:
        """The policy ``spec_of(the stored document, or None)`` makes, stored under the
        policy's row lock; the revision moves only when the document changed."""
        async with self.write(cluster, action) as (session, cluster_row):
            row = await session.scalar(
                select(SecurityPolicyRow)
                .where(SecurityPolicyRow.cluster == cluster, SecurityPolicyRow.endpoint == endpoint)
                .with_for_update()
            )
            document = spec_of(row.spec if row is not None else None).model_dump(mode="json")
            now, created, revision = time.time(), row is None, cluster_row.revision
            if row is None:
                row = SecurityPolicyRow(id=new_id(), cluster=cluster, endpoint=endpoint,
                                        spec=document, created_at=now, updated_at=now)  # fmt: skip
                session.add(row)
                revision = self.bump(cluster_row, now)
            elif row.spec != document:
                row.spec, row.updated_at = document, now
                revision = self.bump(cluster_row, now)
        return security_record(row), created, revision

    async def delete_security(self, cluster: str, endpoint: str) -> int:
        async with self.write(cluster, f"delete security {endpoint}") as (session, cluster_row):
            row = await find_security(session, cluster, endpoint)
            await session.delete(row)
            return self.bump(cluster_row, time.time())

    # -- settings -----------------------------------------------------------

    async def update_settings(
        self, cluster: str, changes: dict[str, Any]
    ) -> tuple[SettingsSpec, int]:
        async with self.write(cluster, "update settings") as (_session, cluster_row):
            merged = parse(SettingsSpec, {**cluster_row.settings, **changes}, prefix="settings")
            document = merged.model_dump(mode="json")
            revision = cluster_row.revision
            if document != cluster_row.settings:
                cluster_row.settings = document
                revision = self.bump(cluster_row, time.time())
        return merged, revision

    # -- discovered backends ------------------------------------------------

    async def replace_discovered(
        self, cluster: str, backends: list[DiscoveredBackend]
    ) -> int | None:
        """Make ``backends`` the cluster's discovered backends (one per pod): the new
        revision, or None when nothing changed. The user's routes are not touched."""
        wanted = {b.pod: b.to_json() for b in backends}
        async with self.write(cluster, "discovery", announce=False) as (session, row):
            stored = {
                r.pod: r
                for r in await session.scalars(
                    select(DiscoveredBackendRow).where(DiscoveredBackendRow.cluster == cluster)
                )
            }
            now, changed = time.time(), False
            for pod, gone in stored.items():
                if pod not in wanted:
                    await session.delete(gone)
                    changed = True
            for pod, backend in wanted.items():
                kept = stored.get(pod)
                if kept is None:
                    session.add(
                        DiscoveredBackendRow(
                            cluster=cluster, pod=pod, backend=backend, updated_at=now
                        )
                    )
                    changed = True
                elif kept.backend != backend:
                    kept.backend, kept.updated_at, changed = backend, now, True
            if not changed:
                return None
            await session.flush()
            return self.bump(row, now)

    # -- the whole document -------------------------------------------------

    async def state(self, cluster: str) -> ClusterState:
        """One consistent read of the cluster, for building its snapshot."""
        async with self._sessions() as session, session.begin():
            row = await self._require_cluster(session, cluster)
            return (await self._read_state(session, row))[0]

    async def _read_state(self, session: AsyncSession, row: ClusterRow) -> tuple[ClusterState, str]:
        """The cluster as its snapshot is built from, and its document as canonical JSON."""
        cluster = row.name
        parsed = await self._parsed_routes.read(session, cluster)
        policies = list(
            await session.scalars(
                select(SecurityPolicyRow)
                .where(SecurityPolicyRow.cluster == cluster)
                .order_by(SecurityPolicyRow.endpoint)
            )
        )
        route_records = tuple(p.record for p in parsed)
        policy_records = tuple(security_record(p) for p in policies)
        document = canonical_document(
            row, [p.canonical for p in parsed], [p.spec for p in policies]
        )
        identities = await read_identities(session, cluster)
        discovered = await session.scalars(
            select(DiscoveredBackendRow.backend)
            .where(DiscoveredBackendRow.cluster == cluster)
            .order_by(DiscoveredBackendRow.pod)
        )
        return ClusterState(
            name=cluster,
            revision=row.revision,
            routes=route_records,
            security=policy_records,
            settings=dict(row.settings),
            callback=row.callback,
            identities=identities,
            discovered=tuple(DiscoveredBackend.from_json(b) for b in discovered),
        ), document

    async def stored_snapshot(self, cluster: str) -> StoredSnapshot | None:
        """The cluster's last snapshot that built, as the change that produced it stored it."""
        async with self._sessions() as session:
            return await load_snapshot(session, cluster)

    async def keep_snapshot(self, built: StoredSnapshot) -> None:
        """Store a snapshot rebuilt outside a write (rows stored by an older release)."""
        async with self._sessions() as session, session.begin():
            await save_snapshot(session, built.snapshot, built.settings)

    async def export(self, cluster: str) -> GatewayConfig:
        return config_of(await self.state(cluster))

    async def apply(
        self,
        cluster: str,
        desired: GatewayConfig,
        *,
        dry_run: bool = False,
        select_tags: tuple[str, ...] = (),
        action: str = "apply",
    ) -> tuple[ConfigDiff, int]:
        """Make the cluster hold exactly ``desired``, in one transaction; with
        ``select_tags``, only its routes and policies that carry them (tagged_documents)."""
        if desired.cluster is not None and desired.cluster != cluster:
            raise InvalidInput(
                f"cluster: the document is for cluster '{desired.cluster}', not '{cluster}'; "
                "apply it to that cluster or change its cluster: field",
                field="cluster",
                unprocessable=True,
            )
        if dry_run:
            state = await self.state(cluster)
            current_config = config_of(state)
            if select_tags:
                desired = whole_document(current_config, desired, select_tags)
            desired = desired_with_secrets(desired, current_config, state.identities)
            return diff_config(current_config, desired), state.revision
        async with self.write(cluster, action) as (session, cluster_row):
            policies = {
                p.endpoint: p
                for p in await session.scalars(
                    select(SecurityPolicyRow).where(SecurityPolicyRow.cluster == cluster)
                )
            }
            identities = await read_identities(session, cluster)
            parsed = await self._parsed_routes.read(session, cluster)  # kept: no re-parse
            current = config_from_rows(
                cluster_row, [p.record for p in parsed], list(policies.values()), identities
            )
            if select_tags:
                desired = whole_document(current, desired, select_tags)
            desired = desired_with_secrets(desired, current, identities)
            wanted = route_documents(desired)  # once: the diff and the rows both need them
            held = {
                p.record.name: {**p.document, "position": index} for index, p in enumerate(parsed)
            }
            diff = diff_config(current, desired, held, wanted)
            if diff.empty:
                return diff, cluster_row.revision
            now = time.time()
            by_name = {p.record.name: p for p in parsed}
            written = await sync_routes(session, cluster, by_name, wanted, now)
            self._parsed_routes.seed(cluster, parsed_as_written(cluster, written, desired, now))
            await sync_security(session, cluster, policies, desired, now)
            if desired.jwt_providers is not None:
                await sync_jwt_providers(session, cluster, desired.jwt_providers, now)
            if desired.consumers is not None:
                await sync_consumers(session, cluster, desired.consumers, now)
            cluster_row.callback = desired.callback
            cluster_row.settings = desired.settings.model_dump(mode="json")
            revision = self.bump(cluster_row, now)
        return diff, revision

    # -- history ------------------------------------------------------------

    async def history(self, cluster: str) -> list[RevisionEntry]:
        async with self._sessions() as session:
            await self._require_cluster(session, cluster)
            return await history(session, cluster)

    async def revision_document(
        self, cluster: str, revision: int
    ) -> tuple[RevisionEntry, GatewayConfig]:
        """A kept revision and its document (credentials as stored: callers redact them)."""
        async with self._sessions() as session:
            await self._require_cluster(session, cluster)
            found = await revision_document(session, cluster, revision)
        if found is None:
            raise NotFound(
                f"revision {revision} of cluster '{cluster}' is not in the history (the last "
                f"{self.history_keep} changes of the document are kept); list them with "
                "ai-gateway-cli history or GET /api/v1/revisions",
                field="revision",
            )
        entry, document = found
        return entry, read_stored(
            GatewayConfig, document, f"revision {revision}", "roll back to another revision"
        )

    # -- lookups ------------------------------------------------------------

    @staticmethod
    async def _require_cluster(session: AsyncSession, cluster: str) -> ClusterRow:
        row = await session.get(ClusterRow, cluster)
        if row is None:
            raise _cluster_not_found(cluster)
        return row


def _cluster_not_found(cluster: str) -> NotFound:
    return NotFound(
        f"cluster '{cluster}' does not exist; create it with ai-gateway-cli init --cluster {cluster}",
        field="cluster",
    )
