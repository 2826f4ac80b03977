"""Reading consumers, keys, JWT providers and the key secret inside a caller's transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.domain.identity import JwtProviderSpec
from control_plane.domain.validation import read_stored
from control_plane.store.records import ApiKeyRecord, ConsumerRecord, Identities
from control_plane.store.tables import ApiKeyRow, ClusterSecretRow, ConsumerRow, JwtProviderRow


def hash_key(secret: bytes, key: str) -> str:
    """HMAC-SHA256 of the key under the cluster's secret: what is stored and distributed."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def key_record(row: ApiKeyRow, consumer: str) -> ApiKeyRecord:
    return ApiKeyRecord(
        row.id,
        consumer,
        row.prefix,
        row.hash,
        row.expires_at,
        tuple(row.route_scope),
        row.created_at,
    )


async def cluster_secret(session: AsyncSession, cluster: str) -> bytes:
    """The cluster's HMAC key for API keys, created on first use."""
    row = await session.get(ClusterSecretRow, cluster)
    if row is None:
        row = ClusterSecretRow(cluster=cluster, api_key_secret=secrets.token_hex(32))
        session.add(row)
        await session.flush()
    return bytes.fromhex(row.api_key_secret)


async def read_identities(session: AsyncSession, cluster: str) -> Identities:
    consumers = list(
        await session.scalars(
            select(ConsumerRow).where(ConsumerRow.cluster == cluster).order_by(ConsumerRow.name)
        )
    )
    keys = list(await session.scalars(select(ApiKeyRow).where(ApiKeyRow.cluster == cluster)))
    by_consumer: dict[str, list[ApiKeyRow]] = {}
    for key in keys:
        by_consumer.setdefault(key.consumer_id, []).append(key)
    providers = await session.scalars(
        select(JwtProviderRow)
        .where(JwtProviderRow.cluster == cluster)
        .order_by(JwtProviderRow.name)
    )
    secret_row = await session.get(ClusterSecretRow, cluster)
    return Identities(
        consumers=tuple(
            ConsumerRecord(
                c.id,
                c.name,
                c.created_at,
                tuple(
                    key_record(k, c.name)
                    for k in sorted(by_consumer.get(c.id, []), key=lambda k: k.created_at)
                ),
                tuple(c.tags or ()),
            )
            for c in consumers
        ),
        jwt_providers=tuple(
            read_stored(
                JwtProviderSpec,
                p.spec,
                f"JWT provider '{p.name}'",
                f"replace it (PUT /api/v1/jwt-providers/{p.name}) or delete it",
            )
            for p in providers
        ),
        api_key_secret=bytes.fromhex(secret_row.api_key_secret) if secret_row else b"",
    )
