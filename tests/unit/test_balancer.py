"""Smooth weighted round-robin within the first priority group that has an available target."""

from __future__ import annotations

import time
from collections import Counter

from data_plane.upstream.health import OutlierPolicy, TargetHealth
from data_plane.upstream.targets import Target, UpstreamGroup


def group(*specs: tuple[str, int, int]) -> UpstreamGroup:
    return UpstreamGroup(
        tuple(Target.parse(url, weight, priority) for url, weight, priority in specs)
    )


def picks(upstream: UpstreamGroup, count: int) -> list[str]:
    chosen = [upstream.pick() for _ in range(count)]
    return [t.url for t in chosen if t is not None]


def test_weights_are_honoured_and_interleaved() -> None:
    upstream = group(("http://a", 5, 0), ("http://b", 1, 0), ("http://c", 1, 0))
    chosen = picks(upstream, 7)
    assert Counter(chosen) == {"http://a": 5, "http://b": 1, "http://c": 1}
    assert chosen[:3] != ["http://a"] * 3, "smooth: the heavy target is not picked in a burst"
    assert Counter(picks(upstream, 7000)) == {"http://a": 5000, "http://b": 1000, "http://c": 1000}


def test_lower_priority_waits_and_zero_weight_is_drained() -> None:
    upstream = group(("http://primary", 1, 0), ("http://backup", 1, 1), ("http://drained", 0, 0))
    assert set(picks(upstream, 10)) == {"http://primary"}
    primary = upstream.targets[0]
    assert (fallback := upstream.pick(frozenset({id(primary)}))) is not None
    assert fallback.url == "http://backup"


def test_failover_to_the_next_group_and_back() -> None:
    upstream = group(("http://primary", 1, 0), ("http://backup", 1, 1))
    primary = upstream.targets[0]
    now = time.monotonic()
    for _ in range(5):
        primary.health.failed(now)
    assert set(picks(upstream, 5)) == {"http://backup"}
    primary.health.ejected_until = 0.0
    assert set(picks(upstream, 5)) == {"http://primary"}


def test_panic_spreads_over_the_whole_group() -> None:
    upstream = group(("http://a", 1, 0), ("http://b", 1, 0), ("http://c", 1, 0))
    upstream.targets[0].health.ejected_until = upstream.targets[1].health.ejected_until = (
        time.monotonic() + 60
    )
    assert set(picks(upstream, 30)) == {"http://a", "http://b", "http://c"}


def test_ejection_time_grows_and_is_capped() -> None:
    health = TargetHealth("http://x")
    now = 1000.0
    durations = []
    for _ in range(12):
        for _ in range(5):
            health.failed(now)
        durations.append(health.ejected_until - now)
        now = health.ejected_until + 1
    assert 27 <= durations[0] <= 33 and 54 <= durations[1] <= 66
    assert max(durations) <= 330


def test_origin_and_base_path() -> None:
    target = Target.parse("https://api.example.com/v1", 1, 0)
    assert (target.origin, target.base_path) == ("https://api.example.com:443", "/v1")


def test_random_and_least_request_honour_weights_within_five_percent() -> None:
    for algorithm in ("random", "least-request"):
        upstream = UpstreamGroup(
            tuple(Target.parse(u, w, 0) for u, w in (("http://a", 3), ("http://b", 1))),
            algorithm=algorithm,
        )
        share = Counter(picks(upstream, 10_000))["http://a"] / 10_000
        assert abs(share - 0.75) < 0.05, (algorithm, share)


def test_least_request_sends_less_to_a_slow_target() -> None:
    upstream = UpstreamGroup(
        tuple(Target.parse(u, 1, 0) for u in ("http://slow", "http://fast")),
        algorithm="least-request",
    )
    upstream.targets[0].health.in_flight = 10  # requests pile up on the slow one
    share = Counter(picks(upstream, 1000))["http://slow"] / 1000
    assert share < 0.3


def test_consistent_hash_keeps_keys_and_moves_about_one_nth() -> None:
    urls = [f"http://t{i}" for i in range(4)]
    before = UpstreamGroup(tuple(Target.parse(u, 1, 0) for u in urls), algorithm="consistent-hash")
    after = UpstreamGroup(
        tuple(Target.parse(u, 1, 0) for u in [*urls, "http://t4"]), algorithm="consistent-hash"
    )
    keys = [f"session-{i}" for i in range(2000)]

    def owner(upstream: UpstreamGroup, key: str) -> str:
        target = upstream.pick(key=key)
        assert target is not None
        return target.url

    assert all(owner(before, k) == owner(before, k) for k in keys[:50])
    moved = sum(owner(before, k) != owner(after, k) for k in keys) / len(keys)
    assert 0.1 < moved < 0.3, moved  # about 1/5 of the keys go to the new target
    assert all(owner(after, k) == "http://t4" for k in keys if owner(before, k) != owner(after, k))


def test_a_route_ejects_no_more_than_its_share_of_targets() -> None:
    policy = OutlierPolicy(consecutive_failures=1, max_ejection_percent=50)
    upstream = UpstreamGroup(
        tuple(Target.parse(f"http://t{i}", 1, 0) for i in range(4)), outlier=policy
    )
    now = time.monotonic()
    ejected = [upstream.failed(target, now) for target in upstream.targets]
    assert ejected == [True, True, False, False], "at most half of four targets out at once"
    assert upstream.targets[2].health.consecutive_failures == 1, "the failure still counts"


def test_one_target_may_always_be_ejected_and_the_policy_sets_the_time() -> None:
    policy = OutlierPolicy(
        consecutive_failures=2, base_ejection=3.0, max_ejection=4.0, max_ejection_percent=1
    )
    upstream = UpstreamGroup(
        (Target.parse("http://a", 1, 0), Target.parse("http://b", 1, 0)), outlier=policy
    )
    first = upstream.targets[0]
    now = time.monotonic()
    assert not upstream.failed(first, now) and upstream.failed(first, now)
    assert 2.7 <= first.health.ejected_until - now <= 3.3
    assert not upstream.failed(upstream.targets[1], now) and not upstream.failed(
        upstream.targets[1], now
    ), "1 % of two targets: only the one already out"
    first.health.ejected_until = 0.0
    upstream.failed(first, now)
    assert upstream.failed(first, now)
    assert first.health.ejected_until - now <= 4.4, "capped at maxEjection"
