"""The webhook outbox in SQL: events wait here until the callback URL has taken them.

Every control-plane replica may deliver. A replica claims an event by moving
its next attempt into the future with a conditional UPDATE (only one replica's
update matches), so an event is sent by one replica at a time; a replica that
dies mid-delivery leaves the claim to expire and another one retries. Delivery
is at least once: receivers deduplicate on the event id.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from control_plane.store.records import WebhookRecord, iso
from control_plane.store.tables import ClusterRow, WebhookRow

CLAIM_SECONDS = 30.0  # a claimed event is retried by any replica after this


def new_event(
    cluster: str, url: str, event_type: str, data: dict[str, Any], now: float
) -> WebhookRow:
    """A row for the outbox; the payload is the envelope the receiver gets."""
    event_id = uuid.uuid4().hex
    return WebhookRow(
        id=event_id,
        cluster=cluster,
        url=url,
        event_type=event_type,
        payload={
            "id": event_id,
            "type": event_type,
            "cluster": cluster,
            "time": iso(now),
            "data": data,
        },
        created_at=now,
        attempts=0,
        next_attempt_at=now,
        delivered_at=None,
        failed_at=None,
        last_error="",
    )


def _record(row: WebhookRow) -> WebhookRecord:
    return WebhookRecord(
        id=row.id,
        cluster=row.cluster,
        url=row.url,
        event_type=row.event_type,
        payload=row.payload,
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
        last_error=row.last_error,
    )


class WebhookOutbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def enqueue(self, cluster: str, event_type: str, data: dict[str, Any]) -> bool:
        """Queue an event for the cluster's callback URL; False when it has none."""
        now = time.time()
        async with self._sessions() as session, session.begin():
            url = await session.scalar(
                select(ClusterRow.callback).where(ClusterRow.name == cluster)
            )
            if not url:
                return False
            session.add(new_event(cluster, url, event_type, data, now))
        return True

    async def claim_due(self, limit: int = 50) -> list[WebhookRecord]:
        """Events whose next attempt is due, each claimed for this replica."""
        now = time.time()
        async with self._sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(WebhookRow)
                    .where(
                        WebhookRow.delivered_at.is_(None),
                        WebhookRow.failed_at.is_(None),
                        WebhookRow.next_attempt_at <= now,
                    )
                    .order_by(WebhookRow.next_attempt_at)
                    .limit(limit)
                )
            ).all()
            seen = [(row.id, row.next_attempt_at) for row in rows]
        claimed = []
        for event_id, next_attempt_at in seen:
            async with self._sessions() as session, session.begin():
                result = await session.execute(
                    update(WebhookRow)
                    .where(WebhookRow.id == event_id, WebhookRow.next_attempt_at == next_attempt_at)
                    .values(next_attempt_at=now + CLAIM_SECONDS)
                    .returning(WebhookRow)
                )
                row = result.scalar_one_or_none()
                if row is not None:
                    claimed.append(_record(row))
        return claimed

    async def delivered(self, event_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(WebhookRow)
                .where(WebhookRow.id == event_id)
                .values(delivered_at=time.time(), attempts=WebhookRow.attempts + 1, last_error="")
            )

    async def attempt_failed(self, event_id: str, error: str, retry_at: float | None) -> None:
        """Record a failed attempt; ``retry_at`` None gives the event up."""
        values: dict[str, Any] = {"attempts": WebhookRow.attempts + 1, "last_error": error[:1024]}
        if retry_at is None:
            values["failed_at"] = time.time()
        else:
            values["next_attempt_at"] = retry_at
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(WebhookRow).where(WebhookRow.id == event_id).values(**values)
            )

    async def recent(self, cluster: str, limit: int = 100) -> list[WebhookRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(WebhookRow)
                .where(WebhookRow.cluster == cluster)
                .order_by(WebhookRow.created_at.desc())
                .limit(limit)
            )
            return [_record(row) for row in rows]

    async def prune(self, older_than: float) -> int:
        """Forget delivered or given-up events created before ``older_than``."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(WebhookRow).where(
                    WebhookRow.created_at < older_than,
                    (WebhookRow.delivered_at.is_not(None)) | (WebhookRow.failed_at.is_not(None)),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)
