"""Each revision's whole document, who made it and from where: ``history`` and ``rollback``.

A revision is recorded in the transaction of the change that made it, so the history
holds exactly the documents that were served. The document is the stored rows as they
are (credentials included, so that a rollback restores them; the APIs redact them), and is
recorded only when it differs from the last one: the revisions a pod's discovery or an
API key makes change no document. The newest ``keep`` entries per cluster are kept.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.store.records import iso
from control_plane.store.tables import ClusterRow, ConfigRevisionRow, RouteRow, SecurityPolicyRow

DEFAULT_KEEP = 100


@dataclass(frozen=True, slots=True)
class ChangeAuthor:
    """Who a change is recorded as: set once per admin request (REST or gRPC)."""

    actor: str = "control plane"  # which admin credential, or the control plane itself
    address: str = ""  # the client's address, as the admin API resolved it


CONTROL_PLANE = ChangeAuthor()  # a change no admin request made
CHANGE_AUTHOR: ContextVar[ChangeAuthor] = ContextVar("change_author", default=CONTROL_PLANE)


@contextmanager
def authored_by(author: ChangeAuthor) -> Iterator[None]:
    token = CHANGE_AUTHOR.set(author)
    try:
        yield
    finally:
        CHANGE_AUTHOR.reset(token)


def credential_name(secret: str) -> str:
    """An admin key as the history names it: its fingerprint, never the key."""
    return "admin key " + hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class RevisionEntry:
    revision: int
    created_at: float
    actor: str
    address: str
    action: str
    routes: int
    policies: int

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "createdAt": iso(self.created_at),
            "actor": self.actor,
            "address": self.address,
            "action": self.action,
            "routes": self.routes,
            "policies": self.policies,
        }


def _entry(row: ConfigRevisionRow) -> RevisionEntry:
    return RevisionEntry(
        row.revision, row.created_at, row.actor, row.address, row.action, row.routes, row.policies
    )


async def stored_document(session: AsyncSession, cluster: ClusterRow) -> dict[str, Any]:
    """The cluster's document from its rows as stored (no model is rebuilt: at 10,000 routes
    this is the cheap way), in the shape ``apply`` takes."""
    routes = await session.execute(
        select(RouteRow.name, RouteRow.spec)
        .where(RouteRow.cluster == cluster.name)
        .order_by(RouteRow.position)
    )
    policies = await session.scalars(
        select(SecurityPolicyRow.spec)
        .where(SecurityPolicyRow.cluster == cluster.name)
        .order_by(SecurityPolicyRow.endpoint)
    )
    return {
        "cluster": cluster.name,
        "routes": [{**spec, "name": name} for name, spec in routes.all()],
        "security": list(policies),
        "settings": dict(cluster.settings),
        "callback": cluster.callback,
    }


async def record_revision(
    session: AsyncSession, cluster: ClusterRow, action: str, now: float, keep: int
) -> bool:
    """Record ``cluster.revision`` when its document changed; True when recorded."""
    document = await stored_document(session, cluster)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(canonical).hexdigest()
    last = await session.scalar(
        select(ConfigRevisionRow.digest)
        .where(ConfigRevisionRow.cluster == cluster.name)
        .order_by(ConfigRevisionRow.revision.desc())
        .limit(1)
    )
    if last == digest:
        return False
    author = CHANGE_AUTHOR.get()
    session.add(
        ConfigRevisionRow(
            cluster=cluster.name,
            revision=cluster.revision,
            created_at=now,
            actor=author.actor[:128],
            address=author.address[:64],
            action=action[:1200],
            digest=digest,
            routes=len(document["routes"]),
            policies=len(document["security"]),
            document=zlib.compress(canonical, 1),
        )
    )
    await session.flush()
    oldest_kept = await session.scalar(
        select(ConfigRevisionRow.revision)
        .where(ConfigRevisionRow.cluster == cluster.name)
        .order_by(ConfigRevisionRow.revision.desc())
        .offset(keep - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        await session.execute(
            delete(ConfigRevisionRow).where(
                ConfigRevisionRow.cluster == cluster.name,
                ConfigRevisionRow.revision < oldest_kept,
            )
        )
    return True


async def history(session: AsyncSession, cluster: str) -> list[RevisionEntry]:
    """The kept revisions, newest first."""
    rows = await session.scalars(
        select(ConfigRevisionRow)
        .where(ConfigRevisionRow.cluster == cluster)
        .order_by(ConfigRevisionRow.revision.desc())
    )
    return [_entry(row) for row in rows]


async def revision_document(
    session: AsyncSession, cluster: str, revision: int
) -> tuple[RevisionEntry, dict[str, Any]] | None:
    row = await session.get(ConfigRevisionRow, (cluster, revision))
    if row is None:
        return None
    return _entry(row), json.loads(zlib.decompress(row.document))
