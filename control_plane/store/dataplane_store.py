"""What each data plane said last, shared by all control-plane replicas through SQL.

Only data planes of existing clusters are recorded, and one not heard of for
DATAPLANE_RETENTION_SECONDS is forgotten, so the table follows the live fleet.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from control_plane.store.dataplane_replies import ReplyRecorder
from control_plane.store.records import DataPlaneRecord
from control_plane.store.tables import DataPlaneRow

DATAPLANE_RETENTION_SECONDS = 3600.0


class DataPlaneStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.replies = ReplyRecorder(engine)  # ACKs, NACKs and heartbeats, in batches

    async def record(
        self,
        cluster: str,
        node_id: str,
        *,
        hostname: str | None = None,
        software_version: str | None = None,
        applied_version: str | None = None,
        nack: str | None = None,
        connected: bool = True,
    ) -> None:
        """Upsert what the data plane reported; ``None`` leaves a field as it was."""
        async with self._sessions() as session, session.begin():
            row = await session.get(DataPlaneRow, (cluster, node_id))
            if row is None:
                row = DataPlaneRow(
                    cluster=cluster,
                    node_id=node_id,
                    hostname="",
                    software_version="",
                    applied_version="",
                    last_nack="",
                    connected=connected,
                    last_seen=time.time(),
                )
                session.add(row)
            if hostname is not None:
                row.hostname = hostname[:255]
            if software_version is not None:
                row.software_version = software_version[:64]
            if applied_version is not None:
                row.applied_version = applied_version[:128]
            if nack is not None:
                row.last_nack = nack[:4096]
            row.connected = connected
            row.last_seen = time.time()

    async def mark_disconnected(self, cluster: str, node_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(DataPlaneRow)
                .where(DataPlaneRow.cluster == cluster, DataPlaneRow.node_id == node_id)
                .values(connected=False, last_seen=time.time())
            )

    async def prune(self, before: float) -> int:
        """Forget data planes not heard of since ``before`` (a connected one heartbeats every
        few seconds, so only the gone ones are that old); how many were forgotten."""
        async with self._sessions() as session, session.begin():
            gone = await session.scalars(
                delete(DataPlaneRow)
                .where(DataPlaneRow.last_seen < before)
                .returning(DataPlaneRow.node_id)
            )
            return len(gone.all())

    async def list(self, cluster: str | None = None) -> list[DataPlaneRecord]:
        query = select(DataPlaneRow).order_by(DataPlaneRow.cluster, DataPlaneRow.node_id)
        if cluster is not None:
            query = query.where(DataPlaneRow.cluster == cluster)
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [
                DataPlaneRecord(
                    r.node_id,
                    r.cluster,
                    r.hostname,
                    r.software_version,
                    r.applied_version,
                    r.last_nack,
                    r.connected,
                    r.last_seen,
                )
                for r in rows
            ]
