"""Report traffic and backend health to the control plane every few seconds (gRPC Telemetry).

The numbers are read from this process's Prometheus metrics when a report is
built, so the request path pays nothing for them. Counts are cumulative since
the process started: a lost report loses no traffic, the control plane takes
the difference. Reporting is best effort and never touches serving: a control
plane that is down or too old only delays the next report.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import Metric

from data_plane.metrics import (
    REQUEST_BYTES,
    REQUEST_DURATION,
    REQUESTS,
    RESPONSE_BYTES,
    UPSTREAM_RESPONSES,
)
from data_plane.sync.link import ControlPlaneLink
from protos import telemetry_pb2 as tpb
from protos import telemetry_pb2_grpc

log = logging.getLogger("ai_gateway.data_plane.telemetry")

DEFAULT_INTERVAL = 5.0
UNSUPPORTED_RETRY = 60.0  # a control plane without the Telemetry service: ask again later


def _samples(metric: Any, suffix: str = "") -> list[tuple[dict[str, str], float]]:
    families: list[Metric] = list(metric.collect())
    name = families[0].name + suffix if families else ""
    return [(s.labels, s.value) for f in families for s in f.samples if s.name == name]


def _durations() -> dict[str, tpb.Histogram]:
    """Each route's duration histogram, per bucket rather than cumulative."""
    cumulative: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for labels, value in _samples(REQUEST_DURATION, "_bucket"):
        cumulative[labels["route"]].append((float(labels["le"]), value))
    sums = {labels["route"]: value for labels, value in _samples(REQUEST_DURATION, "_sum")}
    histograms: dict[str, tpb.Histogram] = {}
    for route, points in cumulative.items():
        points.sort()
        counts, previous = [], 0.0
        for _, value in points:
            counts.append(int(value - previous))
            previous = value
        bounds = [bound for bound, _ in points if not math.isinf(bound)]
        histograms[route] = tpb.Histogram(bounds=bounds, counts=counts, sum=sums.get(route, 0.0))
    return histograms


def build_report(
    node_id: str, cluster: str, started_at: float, state: dict[str, Any]
) -> tpb.TelemetryReport:
    routes: dict[str, tpb.RouteTraffic] = {}

    def route(name: str) -> tpb.RouteTraffic:
        if name not in routes:
            routes[name] = tpb.RouteTraffic(route=name)
        return routes[name]

    for labels, value in _samples(REQUESTS, "_total"):
        traffic = route(labels["route"])
        status = labels["status_class"]
        traffic.requests_by_status[status] = traffic.requests_by_status[status] + int(value)
    for name, histogram in _durations().items():
        route(name).duration.CopyFrom(histogram)
    for labels, value in _samples(REQUEST_BYTES, "_total"):
        route(labels["route"]).request_bytes = int(value)
    for labels, value in _samples(RESPONSE_BYTES, "_total"):
        route(labels["route"]).response_bytes = int(value)

    targets: dict[tuple[str, str], tpb.TargetTraffic] = {}
    for labels, value in _samples(UPSTREAM_RESPONSES, "_total"):
        key = (labels["route"], labels["target"])
        if key not in targets:
            targets[key] = tpb.TargetTraffic(route=key[0], target=key[1])
        targets[key].responses_by_status[labels["status_class"]] = int(value)

    return tpb.TelemetryReport(
        node_id=node_id,
        cluster=cluster,
        version=str(state.get("version") or ""),
        started_at=started_at,
        routes=list(routes.values()),
        targets=list(targets.values()),
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
    )


class TelemetryReporter:
    def __init__(
        self,
        link: ControlPlaneLink,
        cluster: str,
        node_id: str,
        state: Callable[[], dict[str, Any]],
    ) -> None:
        self._link = link
        self._cluster = cluster
        self._node_id = node_id
        self._state = state
        self.started_at = time.time()
        self.reports_sent = 0

    async def run(self) -> None:
        interval = DEFAULT_INTERVAL
        async with self._link.channel() as channel:
            stub = telemetry_pb2_grpc.TelemetryStub(channel)
            while True:
                interval = await self._report_once(stub, interval)
                await asyncio.sleep(interval)

    async def _report_once(self, stub: telemetry_pb2_grpc.TelemetryStub, interval: float) -> float:
        report = build_report(self._node_id, self._cluster, self.started_at, self._state())
        try:
            ack = await stub.Report(report, metadata=self._link.metadata, timeout=5.0)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return UNSUPPORTED_RETRY
            log.debug("telemetry report not delivered: %s", exc.code().name)
            return interval
        self.reports_sent += 1
        return ack.interval_seconds or interval
