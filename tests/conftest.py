"""Shared fixtures: real control-plane processes and real databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.control_plane import ControlPlaneProcess
from tests.support.services import POSTGRES_HOST, POSTGRES_PORT, require


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin DSN of the local PostgreSQL server (skips, or fails under CI=true)."""
    require("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    return f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres"


def _create_database(admin_dsn: str) -> str:
    import asyncpg

    name = f"aigw_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _run(create())
    return name


def _drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run(drop())


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = _create_database(postgres_server)
    try:
        yield f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        _drop_database(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on the SQLite default and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneProcess]:
    """One control plane on SQLite shared by a module; tests isolate by cluster."""
    workdir = tmp_path_factory.mktemp("control-plane")
    plane = ControlPlaneProcess(workdir, f"sqlite+aiosqlite:///{workdir / 'gateway.db'}")
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def cluster(control_plane: ControlPlaneProcess) -> str:
    """A new, empty cluster on the shared control plane."""
    name = f"c-{uuid.uuid4().hex[:10]}"
    with control_plane.client() as http:
        http.post("/api/v1/clusters", json={"name": name}).raise_for_status()
    return name
