"""Traffic counts over a span of time: added across data planes, subtracted between reports.

Each data plane reports cumulative counts; the difference between two of its
reports is what it served in between. Differences of several data planes add
up series by series (requests per route and status class, latency buckets,
bytes, backends' answers), so a fleet's window is a sum and its percentiles
come from summed buckets. The JSON form is what the store keeps.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from control_plane.telemetry.histogram import BucketCounts
from protos import telemetry_pb2 as tpb

log = logging.getLogger("ai_gateway.control_plane.telemetry")


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
    # (route, model, consumer, kind): kind is requests, input, output, cached_input, reasoning
    # or estimated (requests whose usage the gateway estimated)
    tokens: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    cost: dict[tuple[str, str, str], float] = field(default_factory=dict)  # USD
    ttft: dict[str, BucketCounts] = field(default_factory=dict)  # model -> time to first token
    tpot: dict[str, BucketCounts] = field(default_factory=dict)  # model -> time per output token

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
        for row in report.tokens:
            key = (row.route, row.model, row.consumer)
            for kind, count in (
                ("requests", row.requests),
                ("input", row.input_tokens),
                ("output", row.output_tokens),
                ("cached_input", row.cached_input_tokens),
                ("reasoning", row.reasoning_tokens),
                ("estimated", row.estimated_requests),
            ):
                if count:
                    traffic.tokens[(*key, kind)] += count
            if row.cost_usd > 0:
                traffic.cost[key] = traffic.cost.get(key, 0.0) + row.cost_usd
        for latency in report.model_latency:
            for histogram, into in (
                (latency.time_to_first_token, traffic.ttft),
                (latency.time_per_output_token, traffic.tpot),
            ):
                if histogram.counts:
                    into[latency.model] = BucketCounts(
                        tuple(histogram.bounds), tuple(histogram.counts), histogram.sum
                    )
        return traffic

    def minus(self, earlier: Traffic) -> Traffic:
        """What changed since ``earlier``; series that did not move are left out (an hour of
        reports from a fleet with many routes stays small)."""
        return Traffic(
            requests=self.requests - earlier.requests,
            durations=_moved(self.durations, earlier.durations),
            request_bytes=self.request_bytes - earlier.request_bytes,
            response_bytes=self.response_bytes - earlier.response_bytes,
            responses=self.responses - earlier.responses,
            tokens=self.tokens - earlier.tokens,
            cost={
                key: usd - earlier.cost.get(key, 0.0)
                for key, usd in self.cost.items()
                if usd > earlier.cost.get(key, 0.0)
            },
            ttft=_moved(self.ttft, earlier.ttft),
            tpot=_moved(self.tpot, earlier.tpot),
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
        self.tokens.update(other.tokens)
        for key, usd in other.cost.items():
            self.cost[key] = self.cost.get(key, 0.0) + usd
        for table, theirs in ((self.ttft, other.ttft), (self.tpot, other.tpot)):
            for model, counts in theirs.items():
                current = table.get(model)
                try:
                    table[model] = counts if current is None else current.plus(counts)
                except ValueError:
                    log.warning("model %s: data planes report different latency buckets", model)

    def only_routes(self, names: set[str]) -> Traffic:
        """The token series of these routes (``metrics?type=tokens&endpoint=``)."""
        return Traffic(
            tokens=Counter({k: n for k, n in self.tokens.items() if k[0] in names}),
            cost={k: usd for k, usd in self.cost.items() if k[0] in names},
            ttft=self.ttft,
            tpot=self.tpot,
        )

    def went_down_from(self, earlier: Traffic) -> bool:
        """A count smaller than before: the reporting process restarted."""
        return any(count < earlier.requests[key] for key, count in self.requests.items()) or any(
            earlier.requests[key] and key not in self.requests for key in earlier.requests
        )

    @property
    def empty(self) -> bool:
        return not (self.requests or self.durations or self.responses or self.tokens)

    def replaced_by(self, newer: Traffic, report: tpb.TelemetryReport) -> Traffic:
        """These totals with the series a partial report carries replaced by its values."""
        routes = {r.route for r in report.routes}
        targets = {(t.route, t.target) for t in report.targets}
        merged = Traffic(
            requests=Counter({k: n for k, n in self.requests.items() if k[0] not in routes}),
            durations={r: c for r, c in self.durations.items() if r not in routes},
            request_bytes=Counter({r: n for r, n in self.request_bytes.items() if r not in routes}),
            response_bytes=Counter(
                {r: n for r, n in self.response_bytes.items() if r not in routes}
            ),
            responses=Counter(
                {k: n for k, n in self.responses.items() if (k[0], k[1]) not in targets}
            ),
            tokens=Counter({k: n for k, n in self.tokens.items() if k[0] not in routes}),
            cost={k: usd for k, usd in self.cost.items() if k[0] not in routes},
            # Every model's timings are in every report: the newer ones replace these.
            ttft={} if report.model_latency else dict(self.ttft),
            tpot={} if report.model_latency else dict(self.tpot),
        )
        merged.add(newer)
        return merged

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": [[route, status, n] for (route, status), n in self.requests.items()],
            "durations": {
                route: {"bounds": list(c.bounds), "counts": list(c.counts), "sum": c.sum}
                for route, c in self.durations.items()
            },
            "requestBytes": dict(self.request_bytes),
            "responseBytes": dict(self.response_bytes),
            "responses": [[r, t, status, n] for (r, t, status), n in self.responses.items()],
            "tokens": [[*key, n] for key, n in self.tokens.items()],
            "cost": [[*key, usd] for key, usd in self.cost.items()],
            "ttft": {m: _histogram_json(c) for m, c in self.ttft.items()},
            "tpot": {m: _histogram_json(c) for m, c in self.tpot.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Traffic:
        return cls(
            requests=Counter({(r, s): int(n) for r, s, n in data.get("requests", [])}),
            durations={
                route: BucketCounts(tuple(h["bounds"]), tuple(h["counts"]), float(h["sum"]))
                for route, h in data.get("durations", {}).items()
            },
            request_bytes=Counter(data.get("requestBytes", {})),
            response_bytes=Counter(data.get("responseBytes", {})),
            responses=Counter({(r, t, s): int(n) for r, t, s, n in data.get("responses", [])}),
            tokens=Counter({(r, m, c, k): int(n) for r, m, c, k, n in data.get("tokens", [])}),
            cost={(r, m, c): float(usd) for r, m, c, usd in data.get("cost", [])},
            ttft={m: _histogram_of(h) for m, h in data.get("ttft", {}).items()},
            tpot={m: _histogram_of(h) for m, h in data.get("tpot", {}).items()},
        )


def _moved(
    now: dict[str, BucketCounts], before: dict[str, BucketCounts]
) -> dict[str, BucketCounts]:
    moved = {}
    for key, counts in now.items():
        earlier = before.get(key)
        difference = counts if earlier is None else counts.minus(earlier)
        if difference.total:
            moved[key] = difference
    return moved


def _histogram_json(counts: BucketCounts) -> dict[str, Any]:
    return {"bounds": list(counts.bounds), "counts": list(counts.counts), "sum": counts.sum}


def _histogram_of(data: dict[str, Any]) -> BucketCounts:
    return BucketCounts(tuple(data["bounds"]), tuple(data["counts"]), float(data["sum"]))


@dataclass(frozen=True, slots=True)
class Accounted:
    """What one report means: the totals to keep, what to count, and whether to ask for more."""

    totals: Traffic | None  # None: keep what was kept
    delta: Traffic | None  # None: nothing to count
    want_complete: bool = False


def account(
    previous: Traffic | None,
    previous_started_at: float | None,
    report: tpb.TelemetryReport,
    now: float,
    interval: float,
) -> Accounted:
    """Turn a report (complete, or only the series that moved) into totals and a difference."""
    reported = Traffic.from_report(report)
    if previous is not None and previous_started_at == report.started_at:
        totals = reported if report.complete else previous.replaced_by(reported, report)
        if not totals.went_down_from(previous):
            return Accounted(totals, totals.minus(previous))
    if not report.complete:
        return Accounted(None, None, want_complete=True)  # nothing to add it to
    if now - report.started_at <= 3 * interval:
        return Accounted(reported, reported)  # a process that just started: all of it is recent
    return Accounted(reported, None)  # first heard of a long-running one: a baseline, not a burst
