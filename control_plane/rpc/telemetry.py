"""Telemetry: data planes' reports in, into the fleet's telemetry in SQL."""

from __future__ import annotations

import logging

import grpc

from control_plane.domain.config import check_cluster_name
from control_plane.metrics import STORE_ERRORS, TELEMETRY_REPORTS
from control_plane.rpc.dataplane_token import require_dataplane_token
from control_plane.store.telemetry_store import TelemetryStore
from protos import telemetry_pb2 as tpb
from protos import telemetry_pb2_grpc

log = logging.getLogger("ai_gateway.control_plane.telemetry")


class TelemetryService(telemetry_pb2_grpc.TelemetryServicer):  # type: ignore[misc]
    def __init__(self, telemetry: TelemetryStore, token: str | None = None) -> None:
        self._telemetry = telemetry
        self._token = token

    async def Report(
        self, request: tpb.TelemetryReport, context: grpc.aio.ServicerContext
    ) -> tpb.TelemetryAck:
        await require_dataplane_token(context, self._token)
        try:
            check_cluster_name(request.cluster)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cluster: {exc}")
        if not request.node_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node_id: is required")
        try:
            ingested = await self._telemetry.ingest(request)
        except Exception as exc:  # the data plane reports again; its counts are cumulative
            STORE_ERRORS.labels("telemetry").inc()
            log.warning("report of %s not stored: %s", request.node_id, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the telemetry store failed")
        TELEMETRY_REPORTS.inc()
        for change in ingested.changes:
            what = "back in service" if change.healthy else f"out of service ({change.state})"
            log.info("backend %s %s, reported by %s", change.target, what, change.node)
        return tpb.TelemetryAck(
            interval_seconds=self._telemetry.interval, want_complete=ingested.want_complete
        )
