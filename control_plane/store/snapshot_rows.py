"""Each cluster's last snapshot that built, stored in SQL beside the rows it came from.

Written inside the transaction of the change that produced it, so the stored snapshot
always belongs to a committed revision; read by replicas (one row instead of the whole
cluster) and by a control plane whose rows no longer build, which keeps serving it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.store.tables import SnapshotRow
from protos import snapshot_pb2 as pb


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    snapshot: pb.Snapshot
    settings: dict[str, Any]  # the cluster's settings document it was built with
    route_bytes: dict[str, bytes] | None = None  # each route's encoding, when just built


async def save_snapshot(
    session: AsyncSession, snapshot: pb.Snapshot, settings: dict[str, Any]
) -> None:
    """Keep ``snapshot`` as the cluster's last good one (never replacing a newer one)."""
    row = await session.get(SnapshotRow, snapshot.cluster)
    body = snapshot.SerializeToString()
    if row is None:
        session.add(
            SnapshotRow(
                cluster=snapshot.cluster,
                revision=snapshot.revision,
                version=snapshot.version,
                body=body,
                settings=settings,
                built_at=time.time(),
            )
        )
    elif row.revision <= snapshot.revision:
        row.revision, row.version, row.body = snapshot.revision, snapshot.version, body
        row.settings, row.built_at = settings, time.time()


async def load_snapshot(session: AsyncSession, cluster: str) -> StoredSnapshot | None:
    """The cluster's stored snapshot; None when there is none or it does not parse."""
    row = await session.get(SnapshotRow, cluster)
    if row is None:
        return None
    snapshot = pb.Snapshot()
    try:
        snapshot.ParseFromString(row.body)
    except DecodeError:
        return None
    return StoredSnapshot(snapshot, dict(row.settings))
