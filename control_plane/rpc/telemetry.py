"""Telemetry: data planes' reports in, into the fleet metrics."""

from __future__ import annotations

import grpc

from control_plane.domain.config import check_cluster_name
from control_plane.metrics import TELEMETRY_REPORTS
from control_plane.rpc.dataplane_token import require_dataplane_token
from control_plane.telemetry.fleet import FleetMetrics
from protos import telemetry_pb2 as tpb
from protos import telemetry_pb2_grpc


class TelemetryService(telemetry_pb2_grpc.TelemetryServicer):  # type: ignore[misc]
    def __init__(self, fleet: FleetMetrics, token: str | None = None) -> None:
        self._fleet = fleet
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
        self._fleet.ingest(request)
        TELEMETRY_REPORTS.inc()
        return tpb.TelemetryAck(interval_seconds=self._fleet.interval)
