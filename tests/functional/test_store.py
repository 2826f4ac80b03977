"""The config store on SQLite and on the real PostgreSQL: transactions, revisions, migrations."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.domain.config import GatewayConfig
from control_plane.domain.route import RouteSpec
from control_plane.domain.security import SecuritySpec
from control_plane.domain.validation import parse
from control_plane.errors import Conflict, InvalidInput, NotFound, SchemaMismatch
from control_plane.store.config_store import ConfigStore
from control_plane.store.database import alembic_config, create_engine, migrate, schema_revision
from control_plane.store.dataplane_store import DataPlaneStore


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(engine: AsyncEngine) -> ConfigStore:
    store = ConfigStore(engine)
    await store.ensure_cluster("aimlops")
    return store


def route(path: str = "/predict", **fields: Any) -> RouteSpec:
    return parse(RouteSpec, {"path": path, "target": "http://ai-service:8080", **fields})


def document(**fields: Any) -> GatewayConfig:
    return parse(GatewayConfig, fields)


async def test_migrations_upgrade_an_empty_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await schema_revision(engine) is None
        head = await migrate(engine)
        assert await schema_revision(engine) == head
        assert await migrate(engine) == head  # a second start changes nothing
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
        assert {"clusters", "routes", "security_policies", "dataplanes"} <= tables
    finally:
        await engine.dispose()


async def test_the_migrated_schema_is_what_the_models_say(database_url: str) -> None:
    """A table or column added to the models without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from control_plane.store.tables import Base

    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert differences == []
    finally:
        await engine.dispose()


async def test_a_newer_database_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaMismatch, match="newer than this release"):
        await migrate(engine)
    async with engine.connect() as conn:  # and nothing was touched
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == "9999_future"


async def test_every_change_bumps_the_revision_once(store: ConfigStore) -> None:
    assert await store.revision("aimlops") == 0
    record, revision, _ = await store.create_route("aimlops", route())
    assert revision == 1 and record.name == "predict"
    _, revision = await store.update_route("aimlops", "predict", route(method="POST"))
    assert revision == 2
    _, revision = await store.update_route("aimlops", record.id, route(method="POST"))
    assert revision == 2, "an update that changes nothing keeps the revision"
    _, created, revision = await store.put_security(
        "aimlops",
        parse(SecuritySpec, {"endpoint": "/predict", "authType": "jwt", "rateLimit": 100}),
    )
    assert created and revision == 3
    assert await store.delete_route("aimlops", record.id) == 4
    assert await store.revision("aimlops") == 4


async def test_conflicts_and_missing_things_change_nothing(store: ConfigStore) -> None:
    _, revision, _ = await store.create_route("aimlops", route())
    assert await store.create_route("aimlops", route()) == (  # the same route: unchanged
        (await store.get_route("aimlops", "predict")),
        revision,
        "unchanged",
    )
    with pytest.raises(Conflict, match=r"already exists .*PUT /api/v1/routes/predict"):
        await store.create_route("aimlops", route(target="http://other:1"))
    replaced, _, outcome = await store.create_route(
        "aimlops", route(target="http://other:1"), replace=True
    )
    assert outcome == "replaced" and replaced.spec.targets[0].url == "http://other:1"
    with pytest.raises(NotFound):
        await store.delete_route("aimlops", "nope")
    with pytest.raises(NotFound, match="ai-gateway-cli init --cluster ghost"):
        await store.create_route("ghost", route())
    assert await store.revision("aimlops") == 2  # the create and the replacement only
    assert [r.name for r in await store.list_routes("aimlops")] == ["predict"]


async def test_a_create_that_leaves_a_field_out_does_not_ask_for_its_default(
    store: ConfigStore,
) -> None:
    """The product's ``--method POST`` route, then its ``POST /api/v1/routes`` without a method:
    the route asked for is there. A field given with another value is another route."""
    await store.create_route("aimlops", route(methods=["POST"]))
    assert (await store.create_route("aimlops", route()))[2] == "unchanged"
    assert (await store.create_route("aimlops", route(methods=["POST"])))[2] == "unchanged"
    for other in (route(methods=["GET"]), route(methods=[]), route(stripPrefix=True)):
        with pytest.raises(Conflict, match="already exists"):
            await store.create_route("aimlops", other)
    assert (await store.get_route("aimlops", "predict")).spec.methods == ("POST",)
    # A replacement is the whole route: what it leaves out is the default again.
    assert (await store.create_route("aimlops", route(), replace=True))[2] == "replaced"
    assert (await store.get_route("aimlops", "predict")).spec.methods == ()


async def test_apply_is_one_transaction_and_idempotent(store: ConfigStore) -> None:
    await store.create_route("aimlops", route("/old"))
    desired = document(
        routes=[
            {"path": "/predict", "target": "http://ai-service:8080", "methods": ["POST"]},
            {"path": "/chat", "target": "http://llm-service:5000"},
        ],
        security=[{"endpoint": "/predict", "auth": "jwt", "rateLimit": 100}],
        callback="http://external-service/webhook",
    )
    diff, revision = await store.apply("aimlops", desired, dry_run=True)
    assert revision == 1 and diff.summary() == {"create": 4, "update": 0, "delete": 1}
    assert [r.name for r in await store.list_routes("aimlops")] == ["old"], "dry run wrote"

    diff, revision = await store.apply("aimlops", desired)
    assert revision == 2 and not diff.empty
    assert [r.name for r in await store.list_routes("aimlops")] == ["predict", "chat"]

    diff, revision = await store.apply("aimlops", desired)
    assert diff.empty and revision == 2, "applying the same document twice changed something"
    exported = await store.export("aimlops")
    assert (await store.apply("aimlops", exported))[0].empty


async def test_apply_keeps_ids_of_routes_it_updates(store: ConfigStore) -> None:
    record, _, _ = await store.create_route("aimlops", route())
    await store.apply("aimlops", document(routes=[{"path": "/predict", "target": "http://b:1"}]))
    again = await store.get_route("aimlops", "predict")
    assert again.id == record.id and again.spec.targets[0].url == "http://b:1"


async def test_apply_to_the_wrong_cluster_is_refused(store: ConfigStore) -> None:
    with pytest.raises(InvalidInput, match="cluster 'other'"):
        await store.apply("aimlops", document(cluster="other"))
    assert await store.revision("aimlops") == 0


async def test_concurrent_writers_each_get_their_own_revision(store: ConfigStore) -> None:
    results = await asyncio.gather(
        *(store.create_route("aimlops", route(f"/r{i}")) for i in range(10))
    )
    assert sorted(revision for _, revision, _ in results) == list(range(1, 11))
    assert len(await store.list_routes("aimlops")) == 10


async def test_two_stores_on_one_database_see_each_other(
    engine: AsyncEngine, database_url: str
) -> None:
    """Two control-plane replicas share the database: each reads what the other committed."""
    first = ConfigStore(engine)
    await first.ensure_cluster("shared")
    other_engine = create_engine(database_url)
    try:
        second = ConfigStore(other_engine)
        await first.create_route("shared", route())
        assert (await second.revisions())["shared"] == 1
        assert [r.name for r in await second.list_routes("shared")] == ["predict"]
    finally:
        await other_engine.dispose()


async def test_routes_parsed_once_still_follow_every_writer(engine: AsyncEngine) -> None:
    """A replica keeps the routes it parsed; a change another replica made (a new
    ``updated_at``), a renumbering, a deletion and a rolled-back change all show as they are."""
    mine, theirs = ConfigStore(engine), ConfigStore(engine)
    await mine.ensure_cluster("aimlops")
    for path in ("/a", "/b", "/c"):
        await mine.create_route("aimlops", route(path))
    assert [r.name for r in (await mine.state("aimlops")).routes] == ["a", "b", "c"]
    await theirs.update_route("aimlops", "b", route("/b", target="http://other:1"))
    await theirs.delete_route("aimlops", "a")
    state = await mine.state("aimlops")
    assert [r.name for r in state.routes] == ["b", "c"]
    assert state.routes[0].spec.targets[0].url == "http://other:1"
    desired = document(routes=[{"path": "/c", "target": "http://ai-service:8080"},
                               {"path": "/b", "target": "http://other:1"}])  # fmt: skip
    await theirs.apply("aimlops", desired)
    assert [(r.name, r.position) for r in (await mine.state("aimlops")).routes] == [
        ("c", 0), ("b", 1)
    ]  # fmt: skip
    with pytest.raises(InvalidInput):  # rolled back: its parsed rows never show
        await mine.apply("aimlops", document(routes=[{"path": "/x", "target": "http://a:1"}],
                                             security=[{"endpoint": "/x", "authType": "jwt",
                                                        "jwtProviders": ["ghost"]}]))  # fmt: skip
    assert [r.name for r in (await mine.state("aimlops")).routes] == ["c", "b"]


async def test_settings_are_validated_and_versioned(store: ConfigStore) -> None:
    settings, revision = await store.update_settings("aimlops", {"logLevel": "DEBUG"})
    assert settings.log_level == "debug" and revision == 1
    with pytest.raises(InvalidInput) as caught:
        await store.update_settings("aimlops", {"logLevel": "loud"})
    assert caught.value.field == "settings.logLevel"
    assert await store.revision("aimlops") == 1


async def test_an_older_database_is_upgraded_with_its_data(database_url: str) -> None:
    from alembic import command

    from control_plane.store.database import alembic_config

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0001"))
            await conn.execute(
                text(
                    "INSERT INTO clusters (name, revision, settings, created_at, updated_at) "
                    "VALUES ('old', 7, '{}', 0, 0)"
                )
            )
        await migrate(engine)
        store = ConfigStore(engine)
        assert await store.revision("old") == 7
        state = await store.state("old")
        assert len(state.identities.api_key_secret) == 32, (
            "the upgrade gave the old cluster a key secret"
        )
    finally:
        await engine.dispose()


async def test_alembic_by_hand_upgrades_the_same_url(database_url: str) -> None:
    """`alembic -c migrations/alembic.ini upgrade head`, as the README tells an operator."""
    root = Path(__file__).resolve().parents[2]
    url = database_url
    subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(root / "migrations" / "alembic.ini"),
            "upgrade",
            "head",
        ],
        env={**os.environ, "AI_GATEWAY_DATABASE_URL": url},
        cwd=root,
        check=True,
        capture_output=True,
    )
    engine = create_engine(url)
    try:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None and await schema_revision(engine) == head
    finally:
        await engine.dispose()


async def test_the_webhook_outbox_claims_retries_and_delivers(store: ConfigStore) -> None:
    from control_plane.store.webhook_outbox import WebhookOutbox

    outbox = WebhookOutbox(store.engine)
    await store.create_route("aimlops", route("/silent"))  # no callback yet: no event
    assert await outbox.recent("aimlops") == []
    assert not await outbox.enqueue("aimlops", "target.healthy", {"target": "http://a"})

    await store.apply(
        "aimlops",
        document(routes=[{"path": "/chat", "target": "http://m:1"}], callback="http://hooks:9/in"),
    )
    (applied,) = await outbox.recent("aimlops")
    assert applied.event_type == "config.applied" and applied.url == "http://hooks:9/in"
    assert applied.payload["data"] == {"revision": 2, "previousRevision": 1}

    first, second = await asyncio.gather(outbox.claim_due(), outbox.claim_due())
    assert len(first) + len(second) == 1, "an event is claimed by one caller only"
    assert await outbox.claim_due() == [], "a claimed event waits for its claim to run out"
    await outbox.attempt_failed(applied.id, "HTTP 503", retry_at=0.0)
    (again,) = await outbox.claim_due()
    assert again.attempts == 1 and again.last_error == "HTTP 503"
    await outbox.delivered(again.id)
    (done,) = await outbox.recent("aimlops")
    assert done.status == "delivered" and done.attempts == 2
    assert await outbox.prune(older_than=done.created_at + 1) == 1
    assert await outbox.recent("aimlops") == []


async def test_telemetry_from_two_data_planes_adds_up_for_every_replica(
    store: ConfigStore,
) -> None:
    import time as clock

    from control_plane.store.telemetry_store import TelemetryStore
    from control_plane.store.webhook_outbox import WebhookOutbox
    from protos import telemetry_pb2 as tpb

    started = clock.time()

    def report(node: str, ok: int, state: str) -> tpb.TelemetryReport:
        route = tpb.RouteTraffic(
            route="chat", duration=tpb.Histogram(bounds=[0.1, 1.0], counts=[ok, 0, 0], sum=0.0)
        )
        route.requests_by_status["2xx"] = ok
        return tpb.TelemetryReport(
            node_id=node,
            cluster="aimlops",
            complete=True,
            started_at=started,
            routes=[route],
            health=[tpb.TargetState(target="http://gpu-1", state=state)],
        )

    await store.apply("aimlops", document(callback="http://hooks:9/in"))
    one, two = TelemetryStore(store.engine), TelemetryStore(store.engine)  # two replicas
    assert (await one.ingest(report("dp-1", 5, "healthy"))).changes == []
    assert (await two.ingest(report("dp-2", 3, "healthy"))).changes == []
    await two.ingest(report("dp-1", 9, "healthy"))  # dp-1's next report reaches the other one
    for replica in (one, two):
        window = await replica.window("aimlops", 60)
        assert window.requests[("chat", "2xx")] == 12, "5 + 3 + (9 - 5), wherever reports went"
        assert window.durations["chat"].counts == (12, 0, 0)
        assert await replica.reporting("aimlops", 60) == 2

    (out,) = (await one.ingest(report("dp-1", 9, "ejected"))).changes
    assert out.event_type == "target.unhealthy"
    assert (await two.ingest(report("dp-2", 3, "ejected"))).changes == [], "already out"
    assert (await one.ingest(report("dp-1", 9, "healthy"))).changes == [], "dp-2 still has it out"
    (back,) = (await two.ingest(report("dp-2", 3, "healthy"))).changes
    assert back.event_type == "target.healthy"
    events = [e.event_type for e in await WebhookOutbox(store.engine).recent("aimlops")]
    assert sorted(events) == ["config.applied", "target.healthy", "target.unhealthy"]
    reports = await one.reports("aimlops")
    assert reports[("aimlops", "dp-1")].health[0]["state"] == "healthy"


async def test_data_planes_not_heard_of_are_forgotten(
    engine: AsyncEngine, store: ConfigStore
) -> None:
    dataplanes = DataPlaneStore(engine)
    await dataplanes.record("aimlops", "gone")
    await dataplanes.record("aimlops", "live")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE dataplanes SET last_seen = 0 WHERE node_id = 'gone'"))
    assert await dataplanes.prune(before=1_000.0) == 1
    assert [d.node_id for d in await dataplanes.list("aimlops")] == ["live"]


async def test_budget_charges_are_applied_once_per_batch(store: ConfigStore) -> None:
    import time as clock

    from control_plane.store.telemetry_store import TelemetryStore
    from protos import telemetry_pb2 as tpb

    started, ends = clock.time(), clock.time() + 3600

    def report(node: str, batch: int, amount: int, when: float = started) -> tpb.TelemetryReport:
        charge = tpb.BudgetCharge(
            key="aimlops\x1f/v1\x1fconsumer:team-a\x1fbudget\x1f2026-12", scope="on /v1",
            caller="consumer:team-a", period="2026-12", unit="usd", budget=50.0,
            amount=amount, expires_at=ends,
        )  # fmt: skip
        return tpb.TelemetryReport(
            node_id=node, cluster="aimlops", complete=True, started_at=when,
            charges_batch=batch, budget_charges=[charge],
        )  # fmt: skip

    await store.apply("aimlops", document())
    one, two = TelemetryStore(store.engine), TelemetryStore(store.engine)  # two replicas
    await one.ingest(report("dp-1", 1, 1_500_000))  # $1.50
    await two.ingest(report("dp-1", 1, 1_500_000))  # the same batch again (its ack was lost)
    await two.ingest(report("dp-2", 1, 250_000))  # another data plane's first batch
    await one.ingest(report("dp-1", 2, 1_000_000))
    await one.ingest(report("dp-1", 1, 700_000, when=started + 60))  # dp-1 restarted: batch 1
    (budget,) = await one.budgets("aimlops")
    assert budget["spent"] == 1.5 + 0.25 + 1.0 + 0.7 and budget["budget"] == 50.0
    assert budget["caller"] == "consumer:team-a" and budget["unit"] == "usd"
    assert await two.budgets("aimlops", "consumer:team-b") == []
    ledger = await two.ledger("aimlops")  # what a data plane rebuilding Redis reads
    assert [amount for _, amount, _ in ledger.counts] == [3_450_000]
    assert sorted(ledger.batches) == [("dp-1", started + 60, 1), ("dp-2", started, 1)]
