"""A document's ``consumers:`` and ``jwtProviders:`` made true in the apply's transaction.

Each is managed only when the document has it: left out, the cluster's stay as they are (a
document written before these existed must not revoke every key). Before the difference is
computed, the document is read against what is stored: a ``<redacted>`` JWT secret keeps the
stored one, a key written by its plaintext that is stored already becomes that key (so the
same file applied twice changes nothing), and a key id that is not the consumer's is refused.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.domain.config import GatewayConfig
from control_plane.domain.identity import JwtProviderSpec
from control_plane.domain.identity_documents import ConsumerDocument, KeyDocument
from control_plane.errors import Conflict, InvalidInput
from control_plane.store.identity_rows import cluster_secret, hash_key
from control_plane.store.records import ApiKeyRecord, ConsumerRecord, Identities, iso
from control_plane.store.tables import ApiKeyRow, ConsumerRow, JwtProviderRow


def consumer_documents(identities: Identities) -> tuple[ConsumerDocument, ...] | None:
    """The stored consumers as ``export`` writes them (None when there are none)."""
    if not identities.consumers:
        return None
    return tuple(_consumer_document(c) for c in identities.consumers)


def _consumer_document(consumer: ConsumerRecord) -> ConsumerDocument:
    return ConsumerDocument(
        name=consumer.name,
        tags=consumer.tags,
        keys=tuple(_key_document(k) for k in consumer.keys),
    )


def _key_document(key: ApiKeyRecord) -> KeyDocument:
    return KeyDocument(
        id=key.id,
        prefix=key.prefix,
        expires_at=iso(key.expires_at) if key.expires_at else None,
        routes=key.routes,
    )


def resolved_identities(desired: GatewayConfig, identities: Identities) -> GatewayConfig:
    """``desired`` with its stored secrets kept and its stored keys recognised."""
    update: dict[str, object] = {}
    if desired.jwt_providers is not None:
        stored = {p.name: p for p in identities.jwt_providers}
        try:
            update["jwt_providers"] = tuple(
                p.keep_stored_secret(stored.get(p.name), f"jwtProviders[{i}].")
                for i, p in enumerate(desired.jwt_providers)
            )
        except ValueError as exc:
            raise InvalidInput(str(exc), field="jwtProviders", unprocessable=True) from None
    if desired.consumers is not None:
        owners = {k.hash: k for c in identities.consumers for k in c.keys}
        ids = {c.name: {k.id for k in c.keys} for c in identities.consumers}
        update["consumers"] = tuple(
            _recognised(index, consumer, owners, ids.get(consumer.name, set()), identities)
            for index, consumer in enumerate(desired.consumers)
        )
    return desired.model_copy(update=update) if update else desired


def _recognised(
    index: int,
    consumer: ConsumerDocument,
    owners: dict[str, ApiKeyRecord],
    mine: set[str],
    identities: Identities,
) -> ConsumerDocument:
    """``owners``: every stored key by its hash; ``mine``: the ids of this consumer's keys."""
    if consumer.keys is None:
        return consumer
    keys = []
    for position, key in enumerate(consumer.keys):
        where = f"consumers[{index}].keys[{position}]"
        if key.id is not None and key.id not in mine:
            raise InvalidInput(
                f"{where}.id: consumer '{consumer.name}' has no key '{key.id}'; a key cannot be "
                "made again from its id: import one with key: ${env:NAME}, or create one with "
                "ai-gateway-cli keys create",
                field=f"{where}.id",
                unprocessable=True,
            )
        if key.key is not None and identities.api_key_secret:
            stored = owners.get(hash_key(identities.api_key_secret, key.key))
            if stored is not None and stored.consumer != consumer.name:
                raise Conflict(
                    f"{where}.key: this key is consumer '{stored.consumer}''s already; "
                    "a key belongs to one consumer",
                    field=f"{where}.key",
                )
            if stored is not None:
                key = key.model_copy(update={"id": stored.id, "key": None})
        keys.append(key)
    return consumer.model_copy(update={"keys": tuple(keys)})


async def sync_jwt_providers(
    session: AsyncSession, cluster: str, providers: tuple[JwtProviderSpec, ...], now: float
) -> None:
    rows = {
        r.name: r
        for r in await session.scalars(
            select(JwtProviderRow).where(JwtProviderRow.cluster == cluster)
        )
    }
    wanted = {p.name: p.model_dump(mode="json") for p in providers}
    for name, gone in rows.items():
        if name not in wanted:
            await session.delete(gone)
    for name, document in wanted.items():
        row = rows.get(name)
        if row is None:
            session.add(
                JwtProviderRow(id=uuid.uuid4().hex, cluster=cluster, name=name, spec=document,
                               created_at=now, updated_at=now)
            )  # fmt: skip
        elif row.spec != document:
            row.spec, row.updated_at = document, now


async def sync_consumers(
    session: AsyncSession, cluster: str, consumers: tuple[ConsumerDocument, ...], now: float
) -> None:
    rows = {
        r.name: r
        for r in await session.scalars(select(ConsumerRow).where(ConsumerRow.cluster == cluster))
    }
    keys: dict[str, dict[str, ApiKeyRow]] = {}
    for key in await session.scalars(select(ApiKeyRow).where(ApiKeyRow.cluster == cluster)):
        keys.setdefault(key.consumer_id, {})[key.id] = key
    wanted = {c.name: c for c in consumers}
    for name, gone in rows.items():
        if name not in wanted:
            for key in keys.get(gone.id, {}).values():
                await session.delete(key)
            await session.delete(gone)
    await session.flush()  # the names and key hashes are free before new rows take them
    secret = await cluster_secret(session, cluster)
    for name, consumer in wanted.items():
        found = rows.get(name)
        if found is None:
            row = ConsumerRow(id=uuid.uuid4().hex, cluster=cluster, name=name, created_at=now,
                              tags=list(consumer.tags))  # fmt: skip
            session.add(row)
            await session.flush()  # before its keys: the tables have no ORM relationship
        else:
            row = found
            if list(row.tags or ()) != list(consumer.tags):
                row.tags = list(consumer.tags)
        if consumer.keys is not None:
            await _sync_keys(
                session, cluster, row, keys.get(row.id, {}), consumer.keys, secret, now
            )


async def _sync_keys(
    session: AsyncSession,
    cluster: str,
    consumer: ConsumerRow,
    stored: dict[str, ApiKeyRow],
    wanted: tuple[KeyDocument, ...],
    secret: bytes,
    now: float,
) -> None:
    kept = set()
    for key in wanted:
        if key.id is not None:  # resolved_identities made sure it is the consumer's
            row = stored[key.id]
            row.expires_at, row.route_scope = key.expiry(), list(key.routes)
            kept.add(key.id)
        elif key.key is not None:
            session.add(
                ApiKeyRow(id=uuid.uuid4().hex, cluster=cluster, consumer_id=consumer.id,
                          prefix=key.key[: min(12, len(key.key) // 4)],
                          hash=hash_key(secret, key.key),
                          expires_at=key.expiry(), route_scope=list(key.routes), created_at=now)
            )  # fmt: skip
    for key_id, row in stored.items():
        if key_id not in kept:
            await session.delete(row)
