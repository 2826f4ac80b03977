"""Telemetry: data planes' reports in, into the fleet metrics."""

from __future__ import annotations

import logging

import grpc

from control_plane.domain.config import check_cluster_name
from control_plane.metrics import STORE_ERRORS, TELEMETRY_REPORTS
from control_plane.rpc.dataplane_token import require_dataplane_token
from control_plane.store.webhook_outbox import WebhookOutbox
from control_plane.telemetry.fleet import FleetMetrics, TargetTransition
from protos import telemetry_pb2 as tpb
from protos import telemetry_pb2_grpc

log = logging.getLogger("ai_gateway.control_plane.telemetry")


class TelemetryService(telemetry_pb2_grpc.TelemetryServicer):  # type: ignore[misc]
    def __init__(
        self, fleet: FleetMetrics, token: str | None = None, events: WebhookOutbox | None = None
    ) -> None:
        self._fleet = fleet
        self._token = token
        self._events = events

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
        transitions = self._fleet.ingest(request)
        TELEMETRY_REPORTS.inc()
        for change in transitions:
            await self._notify(change)
        return tpb.TelemetryAck(interval_seconds=self._fleet.interval)

    async def _notify(self, change: TargetTransition) -> None:
        if self._events is None:
            return
        kind = "target.healthy" if change.healthy else "target.unhealthy"
        data = {"target": change.target, "state": change.state, "reportedBy": change.node}
        try:
            await self._events.enqueue(change.cluster, kind, data)
        except Exception as exc:  # the report is taken all the same
            STORE_ERRORS.labels("webhooks").inc()
            log.warning("cannot queue the %s webhook: %s", kind, exc)
