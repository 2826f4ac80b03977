"""The counts a data plane reports: bucketed like Prometheus, and what moved since last time."""

from __future__ import annotations

from data_plane.traffic_tally import TrafficTally


def test_durations_fall_in_prometheus_buckets() -> None:
    tally = TrafficTally((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 1.0, 7.0):
        tally.request("chat", "2xx", seconds, 10)
    counts = tally.routes["chat"]
    assert counts.buckets == [2, 2, 1], "a value equal to a bound is in that bound's bucket"
    assert counts.by_status == {"2xx": 5} and counts.request_bytes == 50
    assert abs(counts.seconds - 8.65) < 1e-9


def test_what_moved_is_taken_once_and_given_back_when_unsent() -> None:
    tally = TrafficTally((1.0,))
    tally.request("chat", "2xx", 0.2, 0)
    tally.answer("chat", "http://a", "5xx")
    moved = tally.take_moved()
    assert moved == ({"chat"}, {("chat", "http://a")})
    assert tally.take_moved() == (set(), set())
    tally.response_bytes("embed", 30)
    tally.give_back(*moved)
    assert tally.take_moved() == ({"chat", "embed"}, {("chat", "http://a")})
    assert tally.targets[("chat", "http://a")] == {"5xx": 1}
