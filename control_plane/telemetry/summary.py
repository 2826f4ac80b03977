"""The answer of ``GET /api/v1/metrics``: latency, traffic and errors per route and in total.

Latency figures are milliseconds (what a person reads); rates are per second
over the window; an error is a 5xx answer to a client, and per target a 5xx
or no answer at all.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from typing import Any, Literal

from control_plane.errors import InvalidInput
from control_plane.telemetry.histogram import BucketCounts
from control_plane.telemetry.traffic import Traffic

MetricType = Literal["latency", "traffic", "errors", "tokens"]
METRIC_TYPES: tuple[MetricType, ...] = ("latency", "traffic", "errors", "tokens")
DEFAULT_TYPES: tuple[MetricType, ...] = ("latency", "traffic", "errors")  # tokens: when asked
QUANTILES = (("p50Ms", 0.5), ("p90Ms", 0.9), ("p99Ms", 0.99))
_WINDOW = re.compile(r"([1-9][0-9]{0,5})(s|m|h)")  # no leading zeros: the document's pattern
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_window(text: str) -> float:
    """'30s', '5m', '1h' -> seconds; between 10 s and the hour the control plane keeps."""
    match = _WINDOW.fullmatch(text)
    seconds = int(match[1]) * _UNIT_SECONDS[match[2]] if match else 0
    if not 10 <= seconds <= 3600:
        raise InvalidInput(
            f"window: '{text}' is not a window from 10s to 1h; write it like 30s, 5m or 1h",
            field="window",
        )
    return float(seconds)


def parse_types(text: str | None) -> tuple[MetricType, ...]:
    if text is None:
        return DEFAULT_TYPES
    chosen = tuple(t for t in METRIC_TYPES if t == text)
    if not chosen:
        raise InvalidInput(
            f"type: '{text}' is not a metric type; use one of {', '.join(METRIC_TYPES)}",
            field="type",
        )
    return chosen


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _figures(
    types: tuple[MetricType, ...],
    statuses: Counter[str],
    durations: BucketCounts | None,
    request_bytes: int,
    response_bytes: int,
    window: float,
) -> dict[str, Any]:
    requests = sum(statuses.values())
    figures: dict[str, Any] = {"requests": requests}
    if "latency" in types:
        for name, q in QUANTILES:
            figures[name] = _ms(durations.quantile(q)) if durations else None
        figures["meanMs"] = (
            _ms(durations.sum / durations.total) if durations and durations.total else None
        )
    if "traffic" in types:
        figures["requestsPerSecond"] = round(requests / window, 3)
        figures["requestBytes"] = request_bytes
        figures["responseBytes"] = response_bytes
        figures["byStatus"] = dict(sorted(statuses.items()))
    if "errors" in types:
        errors = statuses["5xx"]
        figures["errors"] = errors
        figures["clientErrors"] = statuses["4xx"]
        figures["errorRate"] = round(errors / requests, 4) if requests else 0.0
    return figures


def summarize(
    traffic: Traffic,
    types: tuple[MetricType, ...],
    window: float,
    paths: dict[str, str],
    only: set[str] | None = None,
) -> dict[str, Any]:
    """``paths``: route name -> path from the config; ``only``: the route names to show."""
    names = sorted({route for route, _ in traffic.requests} | set(traffic.durations))
    if only is not None:
        names = [n for n in names if n in only]
    routes = []
    total_statuses: Counter[str] = Counter()
    total_durations: BucketCounts | None = None
    for name in names:
        statuses = Counter({s: c for (r, s), c in traffic.requests.items() if r == name})
        durations = traffic.durations.get(name)
        total_statuses.update(statuses)
        if durations is not None:
            # Buckets that differ across software versions leave the route with its own only.
            with contextlib.suppress(ValueError):
                total_durations = (
                    durations if total_durations is None else total_durations.plus(durations)
                )
        routes.append(
            {
                "route": name,
                "path": paths.get(name),
                **_figures(
                    types,
                    statuses,
                    durations,
                    traffic.request_bytes[name],
                    traffic.response_bytes[name],
                    window,
                ),
            }
        )
    answer: dict[str, Any] = {
        "total": _figures(
            types,
            total_statuses,
            total_durations,
            sum(traffic.request_bytes[n] for n in names),
            sum(traffic.response_bytes[n] for n in names),
            window,
        ),
        "routes": routes,
    }
    if "errors" in types:
        answer["targets"] = _targets(traffic, set(names))
    return answer


def _targets(traffic: Traffic, names: set[str]) -> list[dict[str, Any]]:
    outcomes: dict[tuple[str, str], Counter[str]] = {}
    for (route, target, status), count in traffic.responses.items():
        if route in names:
            outcomes.setdefault((route, target), Counter())[status] += count
    rows = []
    for (route, target), counts in sorted(outcomes.items()):
        responses = sum(counts.values())
        errors = counts["5xx"] + counts["error"]
        rows.append(
            {
                "route": route,
                "target": target,
                "responses": responses,
                "errors": errors,
                "errorRate": round(errors / responses, 4) if responses else 0.0,
            }
        )
    return rows
