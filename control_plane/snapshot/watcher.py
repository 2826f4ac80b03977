"""Keep the snapshot cache in step with the database.

Local writes hand their snapshot over as they commit (``publish``) and are
pushed at once; writes made by other control-plane replicas on the same
database are found by polling the clusters' revision numbers (one small query
per interval), and their stored snapshot is loaded rather than rebuilt.

A cluster whose rows do not build (stored by another release, say) does not
stop the control plane: the failure is logged, counted and shown with the
cluster (``GET /api/v1/clusters``), and its last snapshot that built keeps
serving until a change makes the rows buildable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from control_plane.errors import ControlPlaneError, NotFound
from control_plane.metrics import SNAPSHOT_BUILD, SNAPSHOT_BUILD_FAILING, STORE_ERRORS
from control_plane.snapshot.builder import build
from control_plane.snapshot.cache import SnapshotCache
from control_plane.store.config_store import ConfigStore
from control_plane.store.snapshot_rows import StoredSnapshot

log = logging.getLogger("ai_gateway.control_plane.snapshots")


class RevisionWatcher:
    def __init__(
        self,
        store: ConfigStore,
        cache: SnapshotCache,
        interval: float = 0.25,
        on_settings: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        """``on_settings(cluster, settings)`` hears each newly published cluster's settings."""
        self._on_settings = on_settings
        self._store = store
        self._cache = cache
        self._interval = interval
        self._built: dict[str, int] = {}  # cluster -> the revision last looked at
        self.failures: dict[str, str] = {}  # cluster -> why its current revision does not build
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.last_build_seconds = 0.0
        store.on_commit = self.publish

    async def start(self) -> None:
        await self.sync_all()
        self._task = asyncio.create_task(self._run(), name="revision-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish(self, built: StoredSnapshot) -> None:
        """A committed change's snapshot: served at once, unless a newer one already is."""
        snapshot = built.snapshot
        current = self._cache.get(snapshot.cluster)
        if current is not None and current.revision > snapshot.revision:
            return
        self._built[snapshot.cluster] = max(self._built.get(snapshot.cluster, 0), snapshot.revision)
        self._clear_failure(snapshot.cluster)
        await self._serve(built)

    async def refresh(self, cluster: str) -> None:
        """Rebuild one cluster's snapshot now (after a change that bumped no revision)."""
        async with self._lock:
            await self._rebuild(cluster)

    async def exists(self, cluster: str) -> bool:
        """Whether the cluster exists; its snapshot is then in the cache (made by another
        replica a moment ago, it is built now). Nothing is cached for one that does not."""
        if self._cache.get(cluster) is not None:
            return True
        async with self._lock:
            if self._cache.get(cluster) is None:
                try:
                    await self._rebuild(cluster)
                except NotFound:
                    return False
        return True  # its snapshot may still be missing: its rows do not build (see failures)

    async def sync_all(self) -> None:
        revisions = await self._store.revisions()
        async with self._lock:
            for cluster, revision in revisions.items():
                if self._built.get(cluster) != revision:
                    await self._rebuild(cluster)

    async def _rebuild(self, cluster: str) -> None:
        """Serve the cluster's current revision: its stored snapshot when that is current,
        else one built from its rows; when those do not build, the last one that did."""
        started = time.perf_counter()
        stored = await self._store.stored_snapshot(cluster)
        revision = await self._store.revision(cluster)
        if stored is not None and stored.snapshot.revision == revision:
            self._built[cluster] = revision
            self._clear_failure(cluster)
            await self._serve(stored)
            return
        try:
            state = await self._store.state(cluster)
            made = await asyncio.to_thread(build, state, self._store.route_protos)
            built = StoredSnapshot(made.snapshot, dict(state.settings), made.route_bytes)
        except (NotFound, SQLAlchemyError, OSError):
            raise  # the store is unreachable, not the rows unusable: tried again next poll
        except Exception as exc:  # whatever a stored row holds, the control plane keeps going
            self._built[cluster] = revision
            self._fail(cluster, revision, exc, stored)
            if stored is not None and self._cache.get(cluster) is None:
                await self._serve(stored)
            return
        self._built[cluster] = revision
        self._clear_failure(cluster)
        SNAPSHOT_BUILD.observe(time.perf_counter() - started)
        self.last_build_seconds = time.perf_counter() - started
        if await self._serve(built):
            with contextlib.suppress(Exception):  # kept for next time; not needed to serve
                await self._store.keep_snapshot(built)

    async def _serve(self, built: StoredSnapshot) -> bool:
        snapshot = built.snapshot
        if not await self._cache.set(snapshot, built.route_bytes):
            return False
        if self._on_settings is not None:
            self._on_settings(snapshot.cluster, built.settings)
        log.info("snapshot %s serving for cluster %s", snapshot.version, snapshot.cluster)
        return True

    def _fail(
        self, cluster: str, revision: int, exc: Exception, stored: StoredSnapshot | None
    ) -> None:
        reason = exc.message if isinstance(exc, ControlPlaneError) else f"{exc!r}"
        serving = (
            f"revision {stored.snapshot.revision} keeps serving"
            if stored is not None
            else "no snapshot of it has built yet"
        )
        message = f"revision {revision} cannot be served ({reason}); {serving}"
        if self.failures.get(cluster) != message:
            log.error("cluster %s: %s", cluster, message)
        self.failures[cluster] = message
        SNAPSHOT_BUILD_FAILING.labels(cluster).set(1)

    def _clear_failure(self, cluster: str) -> None:
        if self.failures.pop(cluster, None) is not None:
            log.info("cluster %s: its snapshot builds again", cluster)
            SNAPSHOT_BUILD_FAILING.labels(cluster).set(0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sync_all()
            except Exception as exc:  # a database hiccup must not end the watcher
                STORE_ERRORS.labels("poll").inc()
                log.warning("revision poll failed: %s", exc)
