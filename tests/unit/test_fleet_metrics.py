"""How reports become fleet figures: differences, restarts, windows and quantiles."""

from __future__ import annotations

from control_plane.telemetry.fleet import FleetMetrics
from control_plane.telemetry.histogram import BucketCounts
from protos import telemetry_pb2 as tpb

BOUNDS = (0.1, 1.0)


def report(node: str, started_at: float, ok: int, fast: int, slow: int) -> tpb.TelemetryReport:
    traffic = tpb.RouteTraffic(
        route="chat",
        duration=tpb.Histogram(bounds=list(BOUNDS), counts=[fast, slow, 0], sum=0.0),
    )
    traffic.requests_by_status["2xx"] = ok
    return tpb.TelemetryReport(node_id=node, cluster="c", started_at=started_at, routes=[traffic])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_quantiles_interpolate_inside_the_bucket_like_prometheus() -> None:
    counts = BucketCounts(BOUNDS, (8, 2, 0))
    assert counts.quantile(0.5) == 0.1 * 5 / 8
    assert abs((counts.quantile(0.9) or 0) - (0.1 + 0.9 * 0.5)) < 1e-9
    assert BucketCounts(BOUNDS, (0, 0, 3)).quantile(0.5) == 1.0, "+Inf: the last bound"
    assert BucketCounts(BOUNDS, (0, 0, 0)).quantile(0.5) is None


def test_reports_become_differences_and_a_restart_starts_again() -> None:
    clock = Clock()
    fleet = FleetMetrics(interval=5.0, clock=clock)
    fleet.ingest(report("a", 998.0, ok=4, fast=4, slow=0))  # just started: all of it counts
    clock.now += 5
    fleet.ingest(report("a", 998.0, ok=10, fast=8, slow=2))
    clock.now += 5
    fleet.ingest(report("a", 1009.0, ok=1, fast=1, slow=0))  # restarted: counts from zero
    window = fleet.window("c", 60)
    assert window.requests[("chat", "2xx")] == 11
    assert window.durations["chat"].counts == (9, 2, 0)
    assert fleet.window("c", 3).requests[("chat", "2xx")] == 1


def test_a_long_running_data_plane_first_heard_of_is_a_baseline() -> None:
    clock = Clock()
    fleet = FleetMetrics(interval=5.0, clock=clock)
    fleet.ingest(report("b", 10.0, ok=5000, fast=5000, slow=0))
    assert fleet.window("c", 60).requests[("chat", "2xx")] == 0, "not a burst of 5000 now"
    clock.now += 5
    fleet.ingest(report("b", 10.0, ok=5003, fast=5003, slow=0))
    assert fleet.window("c", 60).requests[("chat", "2xx")] == 3
    clock.now += 4000
    fleet.ingest(report("b", 10.0, ok=5003, fast=5003, slow=0))
    assert fleet.window("c", 3600).requests[("chat", "2xx")] == 0, "an hour later it is gone"
