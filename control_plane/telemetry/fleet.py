"""Fleet metrics: what every data plane of a cluster served, merged, over a recent window.

Data planes report cumulative counts; each report is turned into what
happened since that node's previous one and kept with the time it arrived,
for up to an hour. A window is the sum of the differences that arrived in
it, so two replicas' traffic adds up and percentiles come from the summed
buckets. The data lives in this control plane's memory: with several
control-plane replicas each shows the data planes that report to it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from control_plane.telemetry.histogram import BucketCounts
from protos import telemetry_pb2 as tpb

log = logging.getLogger("ai_gateway.control_plane.telemetry")

RETENTION_SECONDS = 3600.0
OUT_OF_SERVICE = frozenset({"ejected", "failing-checks"})  # cooling and saturated pass quickly


@dataclass(slots=True)
class Traffic:
    """Counts over a span of time; the parts add and subtract series by series."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (route, "2xx")
    durations: dict[str, BucketCounts] = field(default_factory=dict)  # route ->
    request_bytes: Counter[str] = field(default_factory=Counter)
    response_bytes: Counter[str] = field(default_factory=Counter)
    responses: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # route, target, "5xx"

    @classmethod
    def from_report(cls, report: tpb.TelemetryReport) -> Traffic:
        traffic = cls()
        for route in report.routes:
            for status, count in route.requests_by_status.items():
                traffic.requests[(route.route, status)] += count
            if route.HasField("duration") and route.duration.counts:
                histogram = route.duration
                traffic.durations[route.route] = BucketCounts(
                    tuple(histogram.bounds), tuple(histogram.counts), histogram.sum
                )
            traffic.request_bytes[route.route] += route.request_bytes
            traffic.response_bytes[route.route] += route.response_bytes
        for target in report.targets:
            for status, count in target.responses_by_status.items():
                traffic.responses[(target.route, target.target, status)] += count
        return traffic

    def minus(self, earlier: Traffic) -> Traffic:
        """What changed since ``earlier``; series that did not move are left out (an hour of
        reports from a fleet with many routes stays small)."""
        durations = {}
        for route, counts in self.durations.items():
            before = earlier.durations.get(route)
            moved = counts if before is None else counts.minus(before)
            if moved.total:
                durations[route] = moved
        return Traffic(
            requests=self.requests - earlier.requests,
            durations=durations,
            request_bytes=self.request_bytes - earlier.request_bytes,
            response_bytes=self.response_bytes - earlier.response_bytes,
            responses=self.responses - earlier.responses,
        )

    def add(self, other: Traffic) -> None:
        self.requests.update(other.requests)
        for route, counts in other.durations.items():
            mine = self.durations.get(route)
            try:
                self.durations[route] = counts if mine is None else mine.plus(counts)
            except ValueError:
                log.warning("route %s: data planes report different latency buckets", route)
        self.request_bytes.update(other.request_bytes)
        self.response_bytes.update(other.response_bytes)
        self.responses.update(other.responses)

    def went_down_from(self, earlier: Traffic) -> bool:
        """A count smaller than before: the reporting process restarted."""
        return any(count < earlier.requests[key] for key, count in self.requests.items()) or any(
            earlier.requests[key] and key not in self.requests for key in earlier.requests
        )


@dataclass(slots=True)
class NodeState:
    cluster: str
    node_id: str
    started_at: float
    received_at: float
    version: str
    in_flight: int
    totals: Traffic
    health: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TargetTransition:
    """A backend going out of service for the fleet (the first data plane to say so) or
    back in (the last one that said so saw it recover)."""

    cluster: str
    target: str
    healthy: bool
    state: str
    node: str


class FleetMetrics:
    def __init__(
        self,
        interval: float = 5.0,
        retention: float = RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = interval  # how often data planes are asked to report
        self._retention = retention
        self._clock = clock
        self._nodes: dict[tuple[str, str], NodeState] = {}
        self._out: dict[tuple[str, str], set[str]] = {}  # (cluster, target) -> nodes seeing it out
        self._deltas: deque[tuple[float, str, Traffic]] = deque()

    def ingest(self, report: tpb.TelemetryReport) -> list[TargetTransition]:
        """Take a report in; returns the backends whose fleet-wide state it changed."""
        now = self._clock()
        totals = Traffic.from_report(report)
        key = (report.cluster, report.node_id)
        previous = self._nodes.get(key)
        if previous is not None and (
            previous.started_at == report.started_at and not totals.went_down_from(previous.totals)
        ):
            delta: Traffic | None = totals.minus(previous.totals)
        elif now - report.started_at <= 3 * self.interval:
            delta = totals  # a process that just started: all of it is recent
        else:
            delta = None  # first heard of a long-running one: a baseline, not a burst
        if delta is not None:
            self._deltas.append((now, report.cluster, delta))
        self._nodes[key] = NodeState(
            cluster=report.cluster,
            node_id=report.node_id,
            started_at=report.started_at,
            received_at=now,
            version=report.version,
            in_flight=report.in_flight,
            totals=totals,
            health=[
                {
                    "target": t.target,
                    "state": t.state,
                    "consecutiveFailures": t.consecutive_failures,
                    "timesEjected": t.times_ejected,
                    "inFlight": t.in_flight,
                }
                for t in report.health
            ],
        )
        self._expire(now)
        return self._transitions(report)

    def _transitions(self, report: tpb.TelemetryReport) -> list[TargetTransition]:
        cluster, node = report.cluster, report.node_id
        out_now = {t.target: t.state for t in report.health if t.state in OUT_OF_SERVICE}
        changes = []
        for (of_cluster, target), nodes in list(self._out.items()):
            if of_cluster == cluster and node in nodes and target not in out_now:
                nodes.discard(node)
                if not nodes:
                    del self._out[(of_cluster, target)]
                    changes.append(TargetTransition(cluster, target, True, "healthy", node))
        for target, state in out_now.items():
            nodes = self._out.setdefault((cluster, target), set())
            if not nodes:
                changes.append(TargetTransition(cluster, target, False, state, node))
            nodes.add(node)
        return changes

    def _expire(self, now: float) -> None:
        while self._deltas and self._deltas[0][0] < now - self._retention:
            self._deltas.popleft()
        for key in [k for k, n in self._nodes.items() if n.received_at < now - self._retention]:
            del self._nodes[key]
            for nodes in self._out.values():  # silent: a data plane gone says nothing of health
                nodes.discard(key[1])

    def window(self, cluster: str, seconds: float) -> Traffic:
        """Everything the cluster's data planes served in the last ``seconds``."""
        since = self._clock() - seconds
        merged = Traffic()
        for received_at, of_cluster, delta in self._deltas:
            if received_at >= since and of_cluster == cluster:
                merged.add(delta)
        return merged

    def reporting(self, cluster: str, seconds: float) -> list[NodeState]:
        since = self._clock() - seconds
        return [n for n in self._nodes.values() if n.cluster == cluster and n.received_at >= since]

    def node(self, cluster: str, node_id: str) -> NodeState | None:
        return self._nodes.get((cluster, node_id))
