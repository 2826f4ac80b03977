"""Consumers, API keys and JWT providers: each change one transaction with a revision bump.

Revoking a key deletes its row, so the next snapshot lacks it and every data
plane refuses the key as soon as it applies that snapshot.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.domain.identity import ApiKeyRequest, ConsumerSpec, JwtProviderSpec
from control_plane.errors import Conflict, InvalidInput, NotFound
from control_plane.store.config_store import ConfigStore
from control_plane.store.identity_rows import (
    cluster_secret,
    hash_key,
    key_record,
    read_identities,
)
from control_plane.store.records import ApiKeyRecord, ConsumerRecord, Identities
from control_plane.store.tables import ApiKeyRow, ConsumerRow, JwtProviderRow, SecurityPolicyRow

KEY_PREFIX = "aigw_"


class IdentityStore:
    def __init__(self, store: ConfigStore) -> None:
        self._store = store

    async def read(self, cluster: str) -> Identities:
        return (await self._store.state(cluster)).identities

    async def create_consumer(self, cluster: str, spec: ConsumerSpec) -> tuple[ConsumerRecord, int]:
        async with self._store.write(cluster) as (session, row):
            if await self._find_consumer(session, cluster, spec.name) is not None:
                raise Conflict(
                    f"consumer '{spec.name}' already exists in cluster '{cluster}'", field="name"
                )
            consumer = await self._add_consumer(session, cluster, spec.name, spec.tags)
            revision = self._store.bump(row, time.time())
        record = ConsumerRecord(consumer.id, consumer.name, consumer.created_at, tags=spec.tags)
        return record, revision

    async def delete_consumer(self, cluster: str, name: str) -> int:
        """Deletes the consumer and every key it has."""
        async with self._store.write(cluster) as (session, row):
            consumer = await self._find_consumer(session, cluster, name)
            if consumer is None:
                raise NotFound(f"consumer '{name}' not found in cluster '{cluster}'")
            for key in await session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.consumer_id == consumer.id)
            ):
                await session.delete(key)
            await session.delete(consumer)
            return self._store.bump(row, time.time())

    async def create_key(
        self, cluster: str, consumer_name: str, request: ApiKeyRequest
    ) -> tuple[ApiKeyRecord, str, int]:
        """A new key for the consumer (created if missing); the plaintext is returned once."""
        ConsumerSpec(name=consumer_name)  # validates the name
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        seconds = request.expires_in_seconds
        async with self._store.write(cluster) as (session, row):
            consumer = await self._find_consumer(session, cluster, consumer_name)
            if consumer is None:
                consumer = await self._add_consumer(session, cluster, consumer_name)
            key = ApiKeyRow(
                id=uuid.uuid4().hex,
                cluster=cluster,
                consumer_id=consumer.id,
                prefix=plaintext[:12],
                hash=hash_key(await cluster_secret(session, cluster), plaintext),
                expires_at=now + seconds if seconds else None,
                route_scope=list(request.routes),
                created_at=now,
            )
            session.add(key)
            revision = self._store.bump(row, now)
        return key_record(key, consumer_name), plaintext, revision

    async def revoke_key(self, cluster: str, key_id: str) -> int:
        async with self._store.write(cluster) as (session, row):
            key = await session.scalar(
                select(ApiKeyRow).where(ApiKeyRow.cluster == cluster, ApiKeyRow.id == key_id)
            )
            if key is None:
                raise NotFound(
                    f"API key '{key_id}' not found in cluster '{cluster}'; list keys with ai-gateway-cli keys list"
                )
            await session.delete(key)
            return self._store.bump(row, time.time())

    async def put_jwt_provider(self, cluster: str, spec: JwtProviderSpec) -> tuple[bool, int]:
        """Create or replace; a ``<redacted>`` secret (a GET's answer sent back) keeps the
        stored one."""
        async with self._store.write(cluster) as (session, row):
            now = time.time()
            existing = await session.scalar(
                select(JwtProviderRow).where(
                    JwtProviderRow.cluster == cluster, JwtProviderRow.name == spec.name
                )
            )
            stored = None
            if existing is not None:
                with contextlib.suppress(ValidationError):  # written by an older release
                    stored = JwtProviderSpec.model_validate(existing.spec)
            try:
                document = spec.keep_stored_secret(stored, "").model_dump(mode="json")
            except ValueError as exc:
                raise InvalidInput(str(exc), field="secret", unprocessable=True) from None
            if existing is None:
                session.add(
                    JwtProviderRow(
                        id=uuid.uuid4().hex,
                        cluster=cluster,
                        name=spec.name,
                        spec=document,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return True, self._store.bump(row, now)
            if existing.spec != document:
                existing.spec, existing.updated_at = document, now
                return False, self._store.bump(row, now)
            return False, row.revision

    async def delete_jwt_provider(self, cluster: str, name: str) -> int:
        async with self._store.write(cluster) as (session, row):
            existing = await session.scalar(
                select(JwtProviderRow).where(
                    JwtProviderRow.cluster == cluster, JwtProviderRow.name == name
                )
            )
            if existing is None:
                raise NotFound(f"JWT provider '{name}' not found in cluster '{cluster}'")
            users = sorted(
                policy.endpoint
                for policy in await session.scalars(
                    select(SecurityPolicyRow).where(SecurityPolicyRow.cluster == cluster)
                )
                if name in (policy.spec.get("jwtProviders") or ())
            )
            if users:
                raise Conflict(
                    f"JWT provider '{name}' is named by the security policies of "
                    f"{', '.join(users)}; take it out of their jwtProviders first "
                    "(deleting it would refuse every token there)",
                    field="name",
                )
            await session.delete(existing)
            return self._store.bump(row, time.time())

    @staticmethod
    async def _find_consumer(session: AsyncSession, cluster: str, name: str) -> ConsumerRow | None:
        return await session.scalar(
            select(ConsumerRow).where(ConsumerRow.cluster == cluster, ConsumerRow.name == name)
        )

    @staticmethod
    async def _add_consumer(
        session: AsyncSession, cluster: str, name: str, tags: tuple[str, ...] = ()
    ) -> ConsumerRow:
        consumer = ConsumerRow(
            id=uuid.uuid4().hex, cluster=cluster, name=name, created_at=time.time(),
            tags=list(tags),
        )  # fmt: skip
        session.add(consumer)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict(
                f"consumer '{name}' already exists in cluster '{cluster}'", field="name"
            ) from None
        return consumer


__all__ = ["IdentityStore", "hash_key", "read_identities"]
