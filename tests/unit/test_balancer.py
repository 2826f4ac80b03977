"""Smooth weighted round-robin over the highest-priority targets."""

from __future__ import annotations

from collections import Counter

from data_plane.upstream.targets import Target, UpstreamGroup


def group(*specs: tuple[str, int, int]) -> UpstreamGroup:
    return UpstreamGroup(
        tuple(Target.parse(url, weight, priority) for url, weight, priority in specs)
    )


def test_weights_are_honoured_and_interleaved() -> None:
    upstream = group(("http://a", 5, 0), ("http://b", 1, 0), ("http://c", 1, 0))
    picks = [upstream.pick().url for _ in range(7)]
    assert Counter(picks) == {"http://a": 5, "http://b": 1, "http://c": 1}
    assert picks[:3] != ["http://a"] * 3, "smooth: the heavy target is not picked in a burst"


def test_lower_priority_waits_and_zero_weight_is_drained() -> None:
    upstream = group(("http://primary", 1, 0), ("http://backup", 1, 1), ("http://drained", 0, 0))
    assert {upstream.pick().url for _ in range(10)} == {"http://primary"}
    assert [t.url for t in upstream.fallbacks(upstream.targets[0])] == ["http://backup"]


def test_origin_and_base_path() -> None:
    target = Target.parse("https://api.example.com/v1", 1, 0)
    assert (target.origin, target.base_path) == ("https://api.example.com:443", "/v1")
