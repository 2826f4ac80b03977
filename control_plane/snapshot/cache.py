"""The latest snapshot of each cluster, and a way to wait for the next one.

Waiters wake on a condition and read the latest value, so a slow reader
skips straight to the newest snapshot instead of working through a backlog.

Each version's response is encoded once for every stream that gets it whole, and each
(version held, latest version) pair's delta once for every stream holding that version.
The last ``DELTA_BASES`` versions are remembered as indexes (their items' bytes, not the
snapshots): a data plane holding one of them gets only what changed since.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from protos import discovery_pb2 as dpb
from protos import snapshot_pb2 as pb
from protos.snapshot_delta import SnapshotIndex, make_delta

log = logging.getLogger("ai_gateway.control_plane.snapshots")

DELTA_BASES = 8  # the versions before the latest that a data plane may hold and get a delta


@dataclass(frozen=True, slots=True)
class EncodedResponse:
    nonce: str
    data: bytes  # a serialised DiscoveryResponse
    delta: bool


@dataclass
class _Versions:
    """One cluster's recent versions and the deltas to its latest one."""

    indexes: OrderedDict[str, asyncio.Task[SnapshotIndex]] = field(default_factory=OrderedDict)
    deltas: dict[tuple[str, str], asyncio.Task[EncodedResponse | None]] = field(
        default_factory=dict
    )  # (base version, version) -> its response; None: send the whole snapshot


class SnapshotCache:
    def __init__(self, delta_bases: int = DELTA_BASES) -> None:
        self._snapshots: dict[str, pb.Snapshot] = {}
        self._published_at: dict[str, float] = {}  # cluster -> when its snapshot was set
        self._responses: dict[str, tuple[str, EncodedResponse]] = {}  # cluster -> (version, whole)
        self._versions: dict[str, _Versions] = {}
        self._delta_bases = delta_bases
        self._nonces = itertools.count(1)
        # Resolved, and replaced, at each publication: a thousand waiting streams wake at
        # once instead of taking a condition's lock in turn.
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def get(self, cluster: str) -> pb.Snapshot | None:
        return self._snapshots.get(cluster)

    def clusters(self) -> list[str]:
        return list(self._snapshots)

    async def set(self, snapshot: pb.Snapshot, route_bytes: dict[str, bytes] | None = None) -> bool:
        """Publish a snapshot; False (and no wake-up) when its version is already current
        or a later revision's is.
        ``route_bytes``: each route's encoding, when the build has them (its index is then
        made without encoding the routes again)."""
        current = self._snapshots.get(snapshot.cluster)
        if current is not None and current.version == snapshot.version:
            return False
        if current is not None and snapshot.revision < current.revision:
            return False  # built from older rows while a newer change was published
        self._remember(snapshot, route_bytes)
        self._snapshots[snapshot.cluster] = snapshot
        self._published_at[snapshot.cluster] = time.monotonic()
        changed, self._changed = self._changed, asyncio.get_running_loop().create_future()
        changed.set_result(None)
        return True

    def _remember(self, snapshot: pb.Snapshot, route_bytes: dict[str, bytes] | None) -> None:
        """Start indexing the new version (in a thread: encoding 10,000 routes takes ~10 ms)
        and forget the oldest one and the deltas to the version it replaces."""
        versions = self._versions.setdefault(snapshot.cluster, _Versions())
        previous = next(reversed(versions.indexes.values()), None)
        known = previous.result() if previous is not None and _succeeded(previous) else None
        versions.indexes[snapshot.version] = asyncio.create_task(
            asyncio.to_thread(SnapshotIndex.of, snapshot, known, route_bytes)
        )
        versions.indexes.move_to_end(snapshot.version)
        while len(versions.indexes) > self._delta_bases + 1:
            versions.indexes.popitem(last=False)
        versions.deltas = {k: t for k, t in versions.deltas.items() if k[1] == snapshot.version}

    def response(self, snapshot: pb.Snapshot) -> EncodedResponse:
        """The whole snapshot's response: made once per version and sent as it is on every
        stream (a 10,000-route snapshot is megabytes; encoding it per data plane was most of a
        change's cost). A nonce only has to tell one stream's responses apart."""
        kept = self._responses.get(snapshot.cluster)
        if kept is None or kept[0] != snapshot.version:
            nonce = str(next(self._nonces))
            encoded = dpb.DiscoveryResponse(snapshot=snapshot, nonce=nonce).SerializeToString()
            kept = (snapshot.version, EncodedResponse(nonce, encoded, delta=False))
            self._responses[snapshot.cluster] = kept
        return kept[1]

    def made_delta(self, snapshot: pb.Snapshot, held: str) -> EncodedResponse | None:
        """The delta from ``held``, when it is made already (every stream after the first
        holding that version): no coroutine, no wait."""
        versions = self._versions.get(snapshot.cluster)
        made = versions.deltas.get((held, snapshot.version)) if versions is not None else None
        if made is None or not made.done() or made.cancelled():
            return None
        return made.result()

    async def delta_response(self, snapshot: pb.Snapshot, held: str) -> EncodedResponse | None:
        """``snapshot`` as changes to version ``held``, made once for every stream holding it;
        None when ``held`` is not one of the versions remembered or no delta can say it."""
        versions = self._versions.get(snapshot.cluster)
        if versions is None or held == snapshot.version:
            return None
        if held not in versions.indexes or snapshot.version not in versions.indexes:
            return None
        key = (held, snapshot.version)
        made = versions.deltas.get(key)
        if made is None:
            base, index = versions.indexes[held], versions.indexes[snapshot.version]
            made = versions.deltas[key] = asyncio.create_task(self._delta(snapshot, base, index))
        return await asyncio.shield(made)

    async def _delta(
        self,
        snapshot: pb.Snapshot,
        base: asyncio.Task[SnapshotIndex],
        index: asyncio.Task[SnapshotIndex],
    ) -> EncodedResponse | None:
        nonce = str(next(self._nonces))
        try:
            base_index, new_index = await base, await index
            return await asyncio.to_thread(_encoded_delta, base_index, snapshot, new_index, nonce)
        except Exception:  # the whole snapshot still serves; this is worth a look, not a stop
            log.exception(
                "cannot make the delta to %s of cluster %s", snapshot.version, snapshot.cluster
            )
            return None

    def age(self, cluster: str, version: str) -> float | None:
        """Seconds since ``version`` was published, while it is the cluster's current one."""
        current = self._snapshots.get(cluster)
        if current is None or current.version != version:
            return None
        return time.monotonic() - self._published_at[cluster]

    async def wait_for_change(self, cluster: str, version: str) -> pb.Snapshot:
        """Return the cluster's snapshot as soon as its version differs from ``version``."""
        while True:
            snapshot = self._snapshots.get(cluster)
            if snapshot is not None and snapshot.version != version:
                return snapshot
            await asyncio.shield(self._changed)  # a waiter's cancellation leaves it pending


def _encoded_delta(
    base: SnapshotIndex, snapshot: pb.Snapshot, index: SnapshotIndex, nonce: str
) -> EncodedResponse | None:
    delta = make_delta(base, snapshot, index)
    if delta is None:
        return None
    data = dpb.DiscoveryResponse(delta=delta, nonce=nonce).SerializeToString()
    return EncodedResponse(nonce, data, delta=True)


def _succeeded(task: asyncio.Task[SnapshotIndex]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None
