"""Report traffic and backend health to the control plane every few seconds (gRPC Telemetry).

The numbers come from the traffic tally kept beside the Prometheus metrics. Counts
are cumulative since the process started: a lost report loses no traffic, the
control plane takes the difference. The first report carries every route; later
ones only the routes and targets that moved (a few, however many routes exist),
until the control plane asks for a complete one again. Reporting is best effort
and never touches serving: a control plane that is down or too old only delays
the next report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from data_plane.metrics import TALLY
from data_plane.security.budget_journal import Ledger, reporter_id
from data_plane.sync.link import ControlPlaneLink
from data_plane.traffic_tally import TrafficTally
from protos import telemetry_pb2 as tpb
from protos import telemetry_pb2_grpc
from protos.telemetry_pb2 import BudgetCharge

log = logging.getLogger("ai_gateway.data_plane.telemetry")

DEFAULT_INTERVAL = 5.0
UNSUPPORTED_RETRY = 60.0  # a control plane without the Telemetry service: ask again later
LAST_REPORT_SECONDS = 3.0  # what a stopping data plane gives its last report


def build_report(
    tally: TrafficTally,
    node_id: str,
    cluster: str,
    started_at: float,
    state: dict[str, Any],
    moved: tuple[set[str], set[tuple[str, str]]] | None = None,
) -> tpb.TelemetryReport:
    """Every route and target (``moved`` None: a complete report), or only those that moved."""
    route_names = tally.routes.keys() if moved is None else moved[0]
    target_keys = tally.targets.keys() if moved is None else moved[1]
    bounds = list(tally.bounds)
    routes = []
    for name in route_names:
        counts = tally.routes.get(name)
        if counts is None:
            continue
        routes.append(
            tpb.RouteTraffic(
                route=name,
                requests_by_status=counts.by_status,
                duration=tpb.Histogram(bounds=bounds, counts=counts.buckets, sum=counts.seconds),
                request_bytes=counts.request_bytes,
                response_bytes=counts.response_bytes,
            )
        )
    tokens = [
        tpb.TokenTraffic(
            route=route,
            model=model,
            consumer=consumer,
            requests=counts.requests,
            input_tokens=counts.input,
            output_tokens=counts.output,
            cached_input_tokens=counts.cached_input,
            reasoning_tokens=counts.reasoning,
            estimated_requests=counts.estimated,
            cost_usd=counts.cost,
        )
        for route in route_names
        for (model, consumer), counts in tally.tokens_by_route.get(route, {}).items()
    ]
    latency = [
        tpb.ModelLatency(
            model=model,
            time_to_first_token=tpb.Histogram(
                bounds=list(tally.ttft_bounds), counts=counts.ttft, sum=counts.ttft_sum
            ),
            time_per_output_token=tpb.Histogram(
                bounds=list(tally.tpot_bounds), counts=counts.tpot, sum=counts.tpot_sum
            ),
        )
        for model, counts in tally.latency.items()
    ]
    targets = []
    for key in target_keys:
        outcomes = tally.targets.get(key)
        if outcomes is not None:
            targets.append(
                tpb.TargetTraffic(route=key[0], target=key[1], responses_by_status=outcomes)
            )
    return tpb.TelemetryReport(
        node_id=node_id,
        cluster=cluster,
        version=str(state.get("version") or ""),
        started_at=started_at,
        routes=routes,
        targets=targets,
        health=[
            tpb.TargetState(
                target=str(t["target"]),
                state=str(t["state"]),
                consecutive_failures=int(t["consecutiveFailures"]),
                times_ejected=int(t["timesEjected"]),
                in_flight=int(t["inFlight"]),
            )
            for t in state.get("targets", [])
        ],
        in_flight=int(state.get("inFlight") or 0),
        complete=moved is None,
        tokens=tokens,
        model_latency=latency,
    )


class TelemetryReporter:
    def __init__(
        self,
        link: ControlPlaneLink,
        cluster: str,
        node_id: str,
        state: Callable[[], dict[str, Any]],
        started_at: float | None = None,
    ) -> None:
        """``started_at``: when the counts began (Unix time; default now), which with the
        node id names this process in the control plane's budget ledger."""
        self._link = link
        self._cluster = cluster
        self._node_id = node_id
        self._state = state
        self.started_at = time.time() if started_at is None else started_at
        self.reports_sent = 0
        self._complete_next = True  # the first report carries every route
        # Budget charges go in numbered batches; one is sent again until a report is acked.
        self._charges: list[BudgetCharge] = []
        self._batch = 0

    async def run(self) -> None:
        interval = DEFAULT_INTERVAL
        async with self._link.channel() as channel:
            stub = telemetry_pb2_grpc.TelemetryStub(channel)
            while True:
                interval = await self._report_once(stub, interval)
                await asyncio.sleep(interval)

    async def last_report(self) -> None:
        """At shutdown, once no request is left: the budget charges not reported yet, so the
        ledger has them before this process is gone (best effort, within LAST_REPORT_SECONDS)."""

        def pending() -> bool:
            return bool(self._charges or TALLY.budget_charges or TALLY.limit_uses
                        or TALLY.budget_events)  # fmt: skip

        if not pending():
            return
        try:
            async with asyncio.timeout(LAST_REPORT_SECONDS), self._link.channel() as channel:
                stub = telemetry_pb2_grpc.TelemetryStub(channel)
                for _ in range(3):  # a held batch first, then what came after it
                    before = self.reports_sent
                    await self._report_once(stub, 0.0)
                    if not pending() or self.reports_sent == before:
                        break
        except (TimeoutError, grpc.aio.AioRpcError, OSError) as exc:
            log.warning("budget charges not reported at shutdown: %r", exc)

    async def _report_once(self, stub: telemetry_pb2_grpc.TelemetryStub, interval: float) -> float:
        moved = TALLY.take_moved()
        report = build_report(
            TALLY,
            self._node_id,
            self._cluster,
            self.started_at,
            self._state(),
            None if self._complete_next else moved,
        )
        events = TALLY.take_budget_events()
        report.budget_events.extend(events)
        uses = TALLY.take_limit_uses()
        report.limit_uses.extend(uses.values())
        if not self._charges:
            self._batch, self._charges = TALLY.take_budget_charges()
        if self._charges:
            report.charges_batch = self._batch
            report.budget_charges.extend(self._charges)
        try:
            ack = await stub.Report(report, metadata=self._link.metadata, timeout=5.0)
        except grpc.aio.AioRpcError as exc:
            TALLY.give_back(*moved)  # counts are cumulative: they go with the next report
            TALLY.give_back_budget_events(events)
            TALLY.give_back_limit_uses(uses)
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return UNSUPPORTED_RETRY
            log.debug("telemetry report not delivered: %s", exc.code().name)
            return interval
        self.reports_sent += 1
        if self._charges:  # in the ledger: the next batch gets the next number
            TALLY.budget_batch_acked(self._batch)
            self._charges = []
        self._complete_next = ack.want_complete
        return ack.interval_seconds or interval


async def fetch_budget_ledger(link: ControlPlaneLink, cluster: str) -> Ledger:
    """The control plane's budget counts of the current periods, and the batches they hold."""
    async with link.channel() as channel:
        stub = telemetry_pb2_grpc.TelemetryStub(channel)
        answer = await stub.BudgetLedger(
            tpb.BudgetLedgerRequest(cluster=cluster), metadata=link.metadata, timeout=5.0
        )
    return Ledger(
        [(c.key, c.amount, c.expires_at) for c in answer.counts],
        {reporter_id(r.node_id, r.started_at): r.batch for r in answer.reporters},
    )
