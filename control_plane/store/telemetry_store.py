"""Telemetry in SQL: every data plane's last report, and what it served between reports.

Each report is accounted in one transaction that holds the data plane's row:
the difference from its previous report is stored with the time it arrived,
its backends' health replaces the old, and a backend going out of (or back
into) service for the fleet queues a webhook event in the same transaction.
Any control-plane replica can take any report and answer any query.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from control_plane.store.tables import (
    BudgetLedgerRow,
    BudgetReporterRow,
    ClusterRow,
    DataPlaneReportRow,
    TrafficDeltaRow,
)
from control_plane.store.webhook_outbox import new_event
from control_plane.telemetry.fleet import TargetTransition, health_changes, out_of_service
from control_plane.telemetry.traffic import Traffic, account
from protos import telemetry_pb2 as tpb

RETENTION_SECONDS = 3600.0  # the longest window a query may ask for
STALE_REPORT_SECONDS = 60.0  # a data plane silent this long no longer counts for health


def _health(report: tpb.TelemetryReport) -> list[dict[str, Any]]:
    return [
        {
            "target": t.target,
            "state": t.state,
            "consecutiveFailures": t.consecutive_failures,
            "timesEjected": t.times_ejected,
            "inFlight": t.in_flight,
        }
        for t in report.health
    ]


@dataclass(frozen=True, slots=True)
class Ledger:
    counts: list[tuple[str, int, float]]  # (key, amount, expires at)
    batches: list[tuple[str, float, int]]  # (node, started at, last batch included)


@dataclass(frozen=True, slots=True)
class Ingested:
    changes: list[TargetTransition]
    want_complete: bool
    delta: Traffic | None = None  # what the report added


class TelemetryStore:
    def __init__(self, engine: AsyncEngine, interval: float = 5.0) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._postgres = engine.dialect.name == "postgresql"
        self.interval = interval  # how often data planes are asked to report
        self._pruned_at = 0.0

    async def ingest(self, report: tpb.TelemetryReport) -> Ingested:
        """Account one report: the backends whose fleet-wide state it changed, and whether
        the data plane should send a complete report next."""
        now = time.time()
        cluster, node = report.cluster, report.node_id
        health = _health(report)
        async with self._sessions() as session, session.begin():
            row = await session.get(DataPlaneReportRow, (cluster, node), with_for_update=True)
            previous = Traffic.from_json(row.totals) if row is not None and row.totals else None
            accounted = account(
                previous, row.started_at if row else None, report, now, self.interval
            )
            delta = accounted.delta
            uses = _limit_uses(report)
            if (delta is not None and not delta.empty) or uses:
                stored = delta.to_json() if delta is not None else {}
                if uses:
                    stored["limits"] = uses
                session.add(
                    TrafficDeltaRow(cluster=cluster, node_id=node, received_at=now, traffic=stored)
                )
            others = await session.scalars(
                select(DataPlaneReportRow).where(
                    DataPlaneReportRow.cluster == cluster,
                    DataPlaneReportRow.node_id != node,
                    DataPlaneReportRow.reported_at >= now - STALE_REPORT_SECONDS,
                )
            )
            out_elsewhere = {t for other in others for t in out_of_service(other.health)}
            changes = health_changes(
                cluster, node, row.health if row else [], health, out_elsewhere
            )
            if row is None:
                row = DataPlaneReportRow(cluster=cluster, node_id=node, started_at=0.0, totals={})
                session.add(row)
            if accounted.totals is not None:
                row.started_at = report.started_at
                row.totals = accounted.totals.to_json()
            row.reported_at = now
            row.served_version = report.version[:128]
            row.in_flight = report.in_flight
            row.health = health
            if report.budget_charges and report.charges_batch:
                await _apply_budget_charges(session, cluster, node, report, now)
            if changes or report.budget_events:
                url = await session.scalar(
                    select(ClusterRow.callback).where(ClusterRow.name == cluster)
                )
                for change in changes:
                    if url:
                        event = new_event(cluster, url, change.event_type, change.event_data(), now)
                        session.add(event)
                for budget in report.budget_events[:MAX_BUDGET_EVENTS]:
                    if url and budget.type in BUDGET_EVENT_TYPES:
                        data = budget_event_data(budget, node)
                        session.add(new_event(cluster, url, budget.type, data, now))
        if now - self._pruned_at > 60:
            self._pruned_at = now
            await self.prune(now - RETENTION_SECONDS)
        return Ingested(changes, accounted.want_complete, accounted.delta)

    async def window(self, cluster: str, seconds: float) -> Traffic:
        """Everything the cluster's data planes served in the last ``seconds``."""
        merged = Traffic()
        async with self._sessions() as session:
            deltas = await session.scalars(
                select(TrafficDeltaRow.traffic).where(
                    TrafficDeltaRow.cluster == cluster,
                    TrafficDeltaRow.received_at >= time.time() - seconds,
                )
            )
            for delta in deltas:
                merged.add(Traffic.from_json(delta))
        return merged

    async def reporting(self, cluster: str, seconds: float) -> int:
        """How many data planes reported in the last ``seconds``."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).where(
                    DataPlaneReportRow.cluster == cluster,
                    DataPlaneReportRow.reported_at >= time.time() - seconds,
                )
            )
        return int(count or 0)

    async def reports(self, cluster: str | None) -> dict[tuple[str, str], DataPlaneReportRow]:
        """The last report of each data plane, by (cluster, node)."""
        query = select(DataPlaneReportRow)
        if cluster is not None:
            query = query.where(DataPlaneReportRow.cluster == cluster)
        async with self._sessions() as session:
            return {(r.cluster, r.node_id): r for r in await session.scalars(query)}

    async def prune(self, older_than: float) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(TrafficDeltaRow).where(TrafficDeltaRow.received_at < older_than)
            )
            ended = time.time() - LEDGER_KEPT_SECONDS  # a period's count, kept a while after
            await session.execute(delete(BudgetLedgerRow).where(BudgetLedgerRow.expires_at < ended))

    async def ledger(self, cluster: str) -> Ledger:
        """The cluster's budget counts of their current periods, and the last batch of each
        data-plane process that they include: read in one snapshot of the database, so that
        a batch is in both or in neither (a data plane rebuilding Redis adds what it charged
        after its batch, exactly once)."""
        now = time.time()
        async with self._sessions() as session, session.begin():
            if self._postgres:  # a SQLite transaction is one snapshot already
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            rows = await session.execute(
                select(BudgetLedgerRow.key, BudgetLedgerRow.amount, BudgetLedgerRow.expires_at)
                .where(BudgetLedgerRow.cluster == cluster, BudgetLedgerRow.expires_at > now)
                .limit(MAX_LEDGER_ANSWER)
            )
            counts = [(key, int(amount), float(ends)) for key, amount, ends in rows]
            reporters = await session.execute(
                select(
                    BudgetReporterRow.node_id,
                    BudgetReporterRow.started_at,
                    BudgetReporterRow.sequence,
                )
                .where(BudgetReporterRow.cluster == cluster)
                .limit(MAX_LEDGER_ANSWER)
            )
            batches = [(node, float(started), int(batch)) for node, started, batch in reporters]
        return Ledger(counts, batches)

    async def limit_windows(self, cluster: str, caller: str | None = None) -> list[dict[str, Any]]:
        """What each token limit's windows hold now: the tokens the answers used in the last
        period (an hour at most: telemetry is kept that long), per limit and caller,
        optionally one caller's."""
        now = time.time()
        windows: dict[tuple[str, str, int, float], int] = {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(TrafficDeltaRow.received_at, TrafficDeltaRow.traffic).where(
                    TrafficDeltaRow.cluster == cluster,
                    TrafficDeltaRow.received_at >= now - RETENTION_SECONDS,
                )
            )
            for received_at, traffic in rows:
                for scope, whose, limit, period, tokens in traffic.get("limits", ()):
                    if (caller is None or whose == caller) and received_at >= now - period:
                        key = (scope, whose, limit, period)
                        windows[key] = windows.get(key, 0) + tokens
        return [
            {
                "scope": scope,
                "caller": whose,
                "limit": limit,
                "periodSeconds": period,
                "windowSeconds": min(period, RETENTION_SECONDS),
                "tokens": tokens,
                "share": round(tokens / limit, 4),
            }
            for (scope, whose, limit, period), tokens in sorted(windows.items())
        ]

    async def budgets(self, cluster: str, caller: str | None = None) -> list[dict[str, Any]]:
        """What each budget of the cluster has charged in its current period (from the
        ledger), optionally one caller's (``consumer:NAME``, ``team:NAME``...)."""
        now = time.time()
        query = select(BudgetLedgerRow).where(
            BudgetLedgerRow.cluster == cluster, BudgetLedgerRow.expires_at > now
        )
        if caller is not None:
            query = query.where(BudgetLedgerRow.caller == caller)
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(BudgetLedgerRow.scope))).all()
        answer = []
        for row in rows:
            spent = row.amount / 1_000_000 if row.unit == "usd" else float(row.amount)
            answer.append(
                {
                    "scope": row.scope,
                    "caller": row.caller,
                    "period": row.period,
                    "unit": row.unit,
                    "budget": row.budget,
                    "spent": round(spent, 6),
                    "share": round(spent / row.budget, 4) if row.budget else None,
                }
            )
        return answer


MAX_LIMIT_USES = 10_000  # token-limit windows in one report


def _limit_uses(report: tpb.TelemetryReport) -> list[list[Any]]:
    """A report's token-limit usage as stored: the data plane's text cut to size, numbers
    that cannot be a limit's left out."""
    return [
        [use.scope[:512], use.caller[:512], use.limit, use.period_seconds, use.tokens]
        for use in report.limit_uses[:MAX_LIMIT_USES]
        if 0 < use.limit < MAX_AMOUNT and 0 < use.period_seconds <= 86_400
        and 0 < use.tokens < MAX_AMOUNT
    ]  # fmt: skip


BUDGET_EVENT_TYPES = ("budget.warning", "budget.exceeded")
MAX_BUDGET_EVENTS = 1000  # per report: a data plane's report cannot flood the outbox


def budget_event_data(event: tpb.BudgetEvent, node: str) -> dict[str, Any]:
    """A budget event's webhook data; its text fields are the data plane's, cut to size."""
    data: dict[str, Any] = {
        "budget": event.budget,
        "unit": event.unit if event.unit in ("usd", "tokens") else "tokens",
        "scope": event.scope[:512],
        "caller": event.caller[:512],
        "period": event.period[:32],
        "node": node,
    }
    if event.type == "budget.warning":
        data["spent"] = event.spent
    return data


MAX_CHARGES_PER_BATCH = 1000
LEDGER_KEPT_SECONDS = 7 * 86_400
MAX_LEDGER_ANSWER = 100_000  # budget counts a data plane gets to rebuild Redis from
MAX_AMOUNT = 1 << 53  # tokens or micro-dollars in one batch of one budget: beyond, not a count
MAX_BUDGET_SECONDS = 32 * 86_400  # the longest period, a month, and a day to spare


async def _apply_budget_charges(
    session: AsyncSession, cluster: str, node: str, report: tpb.TelemetryReport, now: float
) -> None:
    """Add a batch of budget charges to the ledger once: a batch the data plane sends again
    (it did not hear the acknowledgement) has a number already applied, and is skipped."""
    reporter = await session.get(BudgetReporterRow, (cluster, node), with_for_update=True)
    if (
        reporter is not None
        and reporter.started_at == report.started_at
        and report.charges_batch <= reporter.sequence
    ):
        return
    for charge in report.budget_charges[:MAX_CHARGES_PER_BATCH]:
        if not 0 < charge.amount < MAX_AMOUNT or not now < charge.expires_at:
            continue
        key_hash = hashlib.sha256(charge.key.encode()).hexdigest()
        entry = await session.get(BudgetLedgerRow, (cluster, key_hash), with_for_update=True)
        expires_at = min(charge.expires_at, now + MAX_BUDGET_SECONDS)
        if entry is None:
            session.add(
                BudgetLedgerRow(
                    cluster=cluster,
                    key_hash=key_hash,
                    key=charge.key[:4096],
                    scope=charge.scope[:512],
                    caller=charge.caller[:512],
                    period=charge.period[:32],
                    unit=charge.unit if charge.unit in ("usd", "tokens") else "tokens",
                    budget=max(0.0, charge.budget),
                    amount=charge.amount,
                    expires_at=expires_at,
                    updated_at=now,
                )
            )
        else:
            entry.amount = min(entry.amount + charge.amount, MAX_AMOUNT)
            entry.budget = max(0.0, charge.budget)
            entry.expires_at = max(entry.expires_at, expires_at)
            entry.updated_at = now
    if reporter is None:
        session.add(
            BudgetReporterRow(
                cluster=cluster,
                node_id=node,
                started_at=report.started_at,
                sequence=report.charges_batch,
            )
        )
    else:
        reporter.started_at, reporter.sequence = report.started_at, report.charges_batch
