"""Keep the snapshot cache in step with the database.

Local writes call ``refresh`` and are pushed at once; writes made by other
control-plane replicas on the same database are found by polling the
clusters' revision numbers (one small query per interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from control_plane.errors import NotFound
from control_plane.metrics import SNAPSHOT_BUILD, STORE_ERRORS
from control_plane.snapshot.builder import build_snapshot, empty_snapshot
from control_plane.snapshot.cache import SnapshotCache
from control_plane.store.config_store import ConfigStore

log = logging.getLogger("ai_gateway.control_plane.snapshots")


class RevisionWatcher:
    def __init__(
        self,
        store: ConfigStore,
        cache: SnapshotCache,
        interval: float = 0.25,
        on_settings: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        """``on_settings(cluster, settings)`` hears each newly built cluster's settings."""
        self._on_settings = on_settings
        self._store = store
        self._cache = cache
        self._interval = interval
        self._built: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.last_build_seconds = 0.0

    async def start(self) -> None:
        await self.sync_all()
        self._task = asyncio.create_task(self._run(), name="revision-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self, cluster: str) -> None:
        """Rebuild one cluster's snapshot now (after a local write)."""
        async with self._lock:
            await self._rebuild(cluster)

    async def ensure(self, cluster: str) -> None:
        """Make sure the cache holds something for a cluster a data plane asks for."""
        if self._cache.get(cluster) is None:
            async with self._lock:
                if self._cache.get(cluster) is None:
                    try:
                        await self._rebuild(cluster)
                    except NotFound:
                        await self._cache.set(empty_snapshot(cluster))

    async def sync_all(self) -> None:
        revisions = await self._store.revisions()
        async with self._lock:
            for cluster, revision in revisions.items():
                if self._built.get(cluster) != revision:
                    await self._rebuild(cluster)

    async def _rebuild(self, cluster: str) -> None:
        started = time.perf_counter()
        state = await self._store.state(cluster)
        snapshot = build_snapshot(state)
        self._built[cluster] = state.revision
        if await self._cache.set(snapshot):
            self.last_build_seconds = time.perf_counter() - started
            SNAPSHOT_BUILD.observe(self.last_build_seconds)
            if self._on_settings is not None:
                self._on_settings(cluster, dict(state.settings))
            log.info("snapshot %s built for cluster %s", snapshot.version, cluster)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sync_all()
            except Exception as exc:  # a database hiccup must not end the watcher
                STORE_ERRORS.labels("poll").inc()
                log.warning("revision poll failed: %s", exc)
