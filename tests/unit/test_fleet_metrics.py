"""How reports become fleet figures: differences, restarts, quantiles and backend changes."""

from __future__ import annotations

from control_plane.telemetry.fleet import health_changes
from control_plane.telemetry.histogram import BucketCounts
from control_plane.telemetry.traffic import Traffic, account
from protos import telemetry_pb2 as tpb

BOUNDS = (0.1, 1.0)


def report(
    started_at: float, ok: int, fast: int, slow: int, route: str = "chat", complete: bool = True
) -> tpb.TelemetryReport:
    traffic = tpb.RouteTraffic(
        route=route,
        duration=tpb.Histogram(bounds=list(BOUNDS), counts=[fast, slow, 0], sum=0.0),
        request_bytes=10 * ok,
    )
    traffic.requests_by_status["2xx"] = ok
    target = tpb.TargetTraffic(route=route, target="http://a")
    target.responses_by_status["2xx"] = ok
    return tpb.TelemetryReport(
        node_id="n",
        cluster="c",
        started_at=started_at,
        routes=[traffic],
        targets=[target],
        complete=complete,
    )


def test_quantiles_interpolate_inside_the_bucket_like_prometheus() -> None:
    counts = BucketCounts(BOUNDS, (8, 2, 0))
    assert counts.quantile(0.5) == 0.1 * 5 / 8
    assert abs((counts.quantile(0.9) or 0) - (0.1 + 0.9 * 0.5)) < 1e-9
    assert BucketCounts(BOUNDS, (0, 0, 3)).quantile(0.5) == 1.0, "+Inf: the last bound"
    assert BucketCounts(BOUNDS, (0, 0, 0)).quantile(0.5) is None


def test_a_report_is_counted_from_the_previous_one_and_a_restart_starts_again() -> None:
    first = account(None, None, report(98.0, ok=4, fast=4, slow=0), 100.0, 5.0)
    assert first.delta is not None and first.delta.requests[("chat", "2xx")] == 4, "all recent"
    second = account(first.totals, 98.0, report(98.0, ok=10, fast=8, slow=2), 105.0, 5.0)
    assert second.delta is not None and second.delta.requests[("chat", "2xx")] == 6
    assert second.delta.durations["chat"].counts == (4, 2, 0)
    assert second.delta.request_bytes["chat"] == 60
    restarted = account(second.totals, 98.0, report(109.0, ok=1, fast=1, slow=0), 110.0, 5.0)
    assert restarted.delta is not None and restarted.delta.requests[("chat", "2xx")] == 1


def test_a_long_running_data_plane_first_heard_of_is_a_baseline() -> None:
    seen = account(None, None, report(10.0, ok=5000, fast=5000, slow=0), 9000.0, 5.0)
    assert seen.delta is None and seen.totals is not None
    assert seen.totals.requests[("chat", "2xx")] == 5000


def test_a_partial_report_replaces_only_the_routes_it_carries() -> None:
    chat = account(None, None, report(1.0, ok=5, fast=5, slow=0), 2.0, 5.0).totals
    assert chat is not None
    both = account(
        chat, 1.0, report(1.0, ok=2, fast=2, slow=0, route="embed", complete=False), 7.0, 5.0
    )
    assert both.delta is not None and dict(both.delta.requests) == {("embed", "2xx"): 2}
    assert both.totals is not None and both.totals.requests[("chat", "2xx")] == 5, "kept"
    later = account(both.totals, 1.0, report(1.0, ok=7, fast=7, slow=0, complete=False), 12.0, 5.0)
    assert later.delta is not None and dict(later.delta.requests) == {("chat", "2xx"): 2}
    unknown = account(None, None, report(1.0, ok=7, fast=7, slow=0, complete=False), 12.0, 5.0)
    assert unknown.want_complete and unknown.delta is None and unknown.totals is None


def test_traffic_survives_its_json_form() -> None:
    totals = account(None, None, report(1.0, ok=3, fast=2, slow=1), 2.0, 5.0).totals
    assert totals is not None
    again = Traffic.from_json(totals.to_json())
    assert again.to_json() == totals.to_json()
    assert again.responses[("chat", "http://a", "2xx")] == 3


def test_a_backend_is_out_while_any_data_plane_says_so() -> None:
    ejected = [{"target": "http://a", "state": "ejected"}]
    healthy = [{"target": "http://a", "state": "healthy"}]
    (out,) = health_changes("c", "n1", healthy, ejected, out_elsewhere=set())
    assert out.event_type == "target.unhealthy" and out.event_data()["state"] == "ejected"
    assert health_changes("c", "n2", healthy, ejected, out_elsewhere={"http://a"}) == []
    assert health_changes("c", "n1", ejected, healthy, out_elsewhere={"http://a"}) == []
    (back,) = health_changes("c", "n2", ejected, healthy, out_elsewhere=set())
    assert back.event_type == "target.healthy"
    cooling = [{"target": "http://a", "state": "cooling"}]
    assert health_changes("c", "n1", healthy, cooling, out_elsewhere=set()) == []
