"""Cumulative traffic counts for the telemetry report, kept beside the Prometheus metrics.

Reading prometheus-client's metrics back is slow (its ``collect()`` formats every
sample: about 2 s for 10,000 routes with traffic, on the event loop). These plain
dicts cost a few increments per request, and they note which routes and targets
moved, so a report carries only those and stays small however many routes exist.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(slots=True)
class RouteCounts:
    by_status: dict[str, int]  # "2xx" -> requests
    buckets: list[int]  # per bucket of the duration histogram, the last one +Inf
    seconds: float = 0.0  # the histogram's sum
    request_bytes: int = 0
    response_bytes: int = 0


@dataclass(slots=True)
class TrafficTally:
    bounds: tuple[float, ...]  # the duration histogram's buckets (upper bounds, seconds)
    routes: dict[str, RouteCounts] = field(default_factory=dict)
    targets: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    moved_routes: set[str] = field(default_factory=set)
    moved_targets: set[tuple[str, str]] = field(default_factory=set)

    def _route(self, route: str) -> RouteCounts:
        counts = self.routes.get(route)
        if counts is None:
            counts = self.routes[route] = RouteCounts({}, [0] * (len(self.bounds) + 1))
        return counts

    def request(self, route: str, status: str, seconds: float, request_bytes: int) -> None:
        counts = self._route(route)
        counts.by_status[status] = counts.by_status.get(status, 0) + 1
        counts.buckets[bisect.bisect_left(self.bounds, seconds)] += 1  # le: value <= bound
        counts.seconds += seconds
        counts.request_bytes += request_bytes
        self.moved_routes.add(route)

    def response_bytes(self, route: str, size: int) -> None:
        self._route(route).response_bytes += size
        self.moved_routes.add(route)

    def answer(self, route: str, target: str, outcome: str) -> None:
        key = (route, target)
        outcomes = self.targets.get(key)
        if outcomes is None:
            outcomes = self.targets[key] = {}
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self.moved_targets.add(key)

    def take_moved(self) -> tuple[set[str], set[tuple[str, str]]]:
        """What moved since the last call; hand it back with ``give_back`` if unsent."""
        moved = self.moved_routes, self.moved_targets
        self.moved_routes, self.moved_targets = set(), set()
        return moved

    def give_back(self, routes: set[str], targets: set[tuple[str, str]]) -> None:
        self.moved_routes |= routes
        self.moved_targets |= targets
