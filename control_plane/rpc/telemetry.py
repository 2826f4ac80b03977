"""Telemetry: data planes' reports in, into the fleet's telemetry in SQL."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc

from control_plane.domain.config import check_cluster_name
from control_plane.metrics import STORE_ERRORS, TELEMETRY_REPORTS, count_usage
from control_plane.rpc.dataplane_access import DataPlaneAccess
from control_plane.store.telemetry_store import TelemetryStore
from protos import telemetry_pb2 as tpb
from protos import telemetry_pb2_grpc

log = logging.getLogger("ai_gateway.control_plane.telemetry")


class TelemetryService(telemetry_pb2_grpc.TelemetryServicer):  # type: ignore[misc]
    def __init__(
        self,
        telemetry: TelemetryStore,
        access: DataPlaneAccess | None = None,
        exists: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        """``exists(cluster)``: reports of clusters that do not exist are refused, unstored."""
        self._telemetry = telemetry
        self._access = access or DataPlaneAccess()
        self._exists = exists

    async def Report(
        self, request: tpb.TelemetryReport, context: grpc.aio.ServicerContext
    ) -> tpb.TelemetryAck:
        if not request.node_id or len(request.node_id) > 255:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node_id: 1 to 255 characters")
        await self._allowed(context, request.cluster)
        if self._exists is not None and not await self._exists(request.cluster):
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"cluster '{request.cluster}' does not exist"
            )
        try:
            ingested = await self._telemetry.ingest(request)
        except Exception as exc:  # the data plane reports again; its counts are cumulative
            STORE_ERRORS.labels("telemetry").inc()
            log.warning("report of %s not stored: %s", request.node_id, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the telemetry store failed")
        TELEMETRY_REPORTS.inc()
        if ingested.delta is not None:
            count_usage(request.cluster, ingested.delta)
        for change in ingested.changes:
            what = "back in service" if change.healthy else f"out of service ({change.state})"
            log.info("backend %s %s, reported by %s", change.target, what, change.node)
        return tpb.TelemetryAck(
            interval_seconds=self._telemetry.interval, want_complete=ingested.want_complete
        )

    async def BudgetLedger(
        self, request: tpb.BudgetLedgerRequest, context: grpc.aio.ServicerContext
    ) -> tpb.BudgetLedgerAnswer:
        await self._allowed(context, request.cluster)
        try:
            ledger = await self._telemetry.ledger(request.cluster)
        except Exception as exc:
            STORE_ERRORS.labels("telemetry").inc()
            log.warning("budget ledger of %s not read: %s", request.cluster, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the telemetry store failed")
        return tpb.BudgetLedgerAnswer(
            counts=[
                tpb.BudgetCharge(key=key, amount=amount, expires_at=ends)
                for key, amount, ends in ledger.counts
            ],
            reporters=[
                tpb.ReporterBatch(node_id=node, started_at=started, batch=batch)
                for node, started, batch in ledger.batches
            ],
        )

    async def _allowed(self, context: grpc.aio.ServicerContext, cluster: str) -> None:
        """The caller is a data plane of ``cluster``, a valid name (else the call is aborted)."""
        token = await self._access.caller(context)
        try:
            check_cluster_name(cluster)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cluster: {exc}")
        await self._access.check_scope(context, token, cluster)
