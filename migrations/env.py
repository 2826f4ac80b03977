"""Alembic environment. The control plane runs it on start over its own connection;
`alembic -c migrations/alembic.ini upgrade head` works too, with AI_GATEWAY_DATABASE_URL
(the same async URL the control plane takes)."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from control_plane.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_by_hand(url: str) -> None:
    from control_plane.store.database import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = os.environ.get("AI_GATEWAY_DATABASE_URL", "sqlite+aiosqlite:///./ai-gateway.db")
    asyncio.run(_migrate_by_hand(url))


run()
