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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from control_plane.store.parsed_routes import canonical_json
from control_plane.store.records import iso
from control_plane.store.tables import ClusterRow, ConfigRevisionRow

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


def canonical_document(
    cluster: ClusterRow, routes: Sequence[str], policies: Sequence[dict[str, Any]]
) -> str:
    """The document as canonical JSON (keys sorted, no spaces), ``routes`` already encoded
    so (parsed_routes keeps each): what ``json.dumps(document, sort_keys=True)`` writes."""
    return (
        '{"callback":' + canonical_json(cluster.callback)
        + ',"cluster":' + canonical_json(cluster.name)
        + ',"routes":[' + ",".join(routes)
        + '],"security":' + canonical_json(list(policies))
        + ',"settings":' + canonical_json(dict(cluster.settings)) + "}"
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class RevisionDocument:
    """A revision's document as the history keeps it: its digest and its compressed bytes."""

    digest: str
    compressed: bytes
    routes: int
    policies: int

    @classmethod
    def of(cls, document: str, routes: int, policies: int) -> RevisionDocument:
        """From canonical JSON. Hashing and compressing release the GIL on large inputs: in
        a thread, they run beside the event loop and the snapshot's build."""
        canonical = document.encode()
        return cls(
            hashlib.sha256(canonical).hexdigest(), zlib.compress(canonical, 1), routes, policies
        )


async def record_revision(
    session: AsyncSession,
    cluster: ClusterRow,
    document: RevisionDocument,
    action: str,
    keep: int,
) -> bool:
    """Record ``cluster.revision`` when its ``document`` changed; True when recorded."""
    digest = document.digest
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
            created_at=cluster.updated_at,
            actor=author.actor[:128],
            address=author.address[:64],
            action=action[:1200],
            digest=digest,
            routes=document.routes,
            policies=document.policies,
            document=document.compressed,
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
        .options(defer(ConfigRevisionRow.document))  # metadata only: documents are megabytes
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
