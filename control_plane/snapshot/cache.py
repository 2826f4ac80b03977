"""The latest snapshot of each cluster, and a way to wait for the next one.

Waiters wake on a condition and read the latest value, so a slow reader
skips straight to the newest snapshot instead of working through a backlog.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from protos import discovery_pb2 as dpb
from protos import snapshot_pb2 as pb


class SnapshotCache:
    def __init__(self) -> None:
        self._snapshots: dict[str, pb.Snapshot] = {}
        self._published_at: dict[str, float] = {}  # cluster -> when its snapshot was set
        # cluster -> (version, nonce, the encoded response): one per version, for every stream
        self._responses: dict[str, tuple[str, str, bytes]] = {}
        self._nonces = itertools.count(1)
        self._changed = asyncio.Condition()

    def get(self, cluster: str) -> pb.Snapshot | None:
        return self._snapshots.get(cluster)

    def clusters(self) -> list[str]:
        return list(self._snapshots)

    async def set(self, snapshot: pb.Snapshot) -> bool:
        """Publish a snapshot; False (and no wake-up) when its version is already current."""
        current = self._snapshots.get(snapshot.cluster)
        if current is not None and current.version == snapshot.version:
            return False
        async with self._changed:
            self._snapshots[snapshot.cluster] = snapshot
            self._published_at[snapshot.cluster] = time.monotonic()
            self._changed.notify_all()
        return True

    def response(self, snapshot: pb.Snapshot) -> tuple[str, bytes]:
        """The nonce and the encoded DiscoveryResponse of ``snapshot``: made once per version
        and sent as they are on every stream (a 10,000-route snapshot is megabytes; encoding it
        per data plane was most of a change's cost). A nonce only has to tell one stream's
        responses apart, and a stream is sent each version once."""
        kept = self._responses.get(snapshot.cluster)
        if kept is None or kept[0] != snapshot.version:
            nonce = str(next(self._nonces))
            encoded = dpb.DiscoveryResponse(snapshot=snapshot, nonce=nonce).SerializeToString()
            kept = (snapshot.version, nonce, encoded)
            self._responses[snapshot.cluster] = kept
        return kept[1], kept[2]

    def age(self, cluster: str, version: str) -> float | None:
        """Seconds since ``version`` was published, while it is the cluster's current one."""
        current = self._snapshots.get(cluster)
        if current is None or current.version != version:
            return None
        return time.monotonic() - self._published_at[cluster]

    async def wait_for_change(self, cluster: str, version: str) -> pb.Snapshot:
        """Return the cluster's snapshot as soon as its version differs from ``version``."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: (s := self._snapshots.get(cluster)) is not None and s.version != version
            )
            return self._snapshots[cluster]
