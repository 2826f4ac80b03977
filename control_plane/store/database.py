"""Open the database and bring its schema to this release's head, or refuse.

An empty or older database is upgraded with Alembic on start; a database
written by a newer release is refused, so an old binary never corrupts it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import migrations
from control_plane.errors import SchemaMismatch

MIGRATIONS_DIR = Path(migrations.__file__).parent
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./ai-gateway.db"
_MIGRATION_LOCK_ID = 0x41494757  # PostgreSQL advisory lock: one migrator at a time


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class EncodedJson(str):
    """JSON text made already (a route's canonical JSON, which the history needs anyway):
    a JSON column takes it as it is instead of encoding the value a second time."""


def _json_serializer(value: Any) -> str:
    return str(value) if isinstance(value, EncodedJson) else json.dumps(value)


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, json_serializer=_json_serializer
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, json_serializer=_json_serializer
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _upgrade(connection: Connection) -> str:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_revision()
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaMismatch(
            f"the database schema is at revision {current}, newer than this release knows "
            f"(up to {script.get_current_head()}); upgrade ai-gateway before using this database"
        )
    command.upgrade(config, "head")
    head = script.get_current_head()
    assert head is not None
    return head


async def migrate(engine: AsyncEngine) -> str:
    """Upgrade to head in one transaction; returns the schema revision now in force."""
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)


async def schema_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
