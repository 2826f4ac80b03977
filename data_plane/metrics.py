"""The data plane's Prometheus metrics (prefix ``aigw_``, base units, bounded labels).

Labels are route names, methods, status classes and target URLs from the
configuration, never raw paths, keys or user ids. Label children are cached,
so a request costs a few dict lookups and increments, not label parsing.
Target health and config state are read at scrape time by a collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from data_plane.ai.metrics import TPOT_BUCKETS, TTFT_BUCKETS, AiSeries
from data_plane.traffic_tally import TrafficTally

# From half a millisecond (a fast hop) to minutes: AI requests range from a cache hit to a
# long generation.
DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)

REQUESTS = Counter(
    "aigw_requests_total",
    "Requests answered, by route, method and status class",
    ["route", "method", "status_class"],
)
REQUEST_DURATION = Histogram(
    "aigw_request_duration_seconds",
    "From the request's arrival to the last byte of the answer",
    ["route"],
    buckets=DURATION_BUCKETS,
)
UPSTREAM_HEADERS = Histogram(
    "aigw_upstream_response_headers_seconds",
    "From sending to a backend to its response headers",
    ["route", "target"],
    buckets=DURATION_BUCKETS,
)
UPSTREAM_RESPONSES = Counter(
    "aigw_upstream_responses_total",
    "Answers (or failures, status_class=error) of each backend",
    ["route", "target", "status_class"],
)
REQUEST_BYTES = Counter("aigw_request_bytes_total", "Request body bytes received", ["route"])
RESPONSE_BYTES = Counter("aigw_response_bytes_total", "Response body bytes sent", ["route"])
RETRIES = Counter("aigw_retries_total", "Tries on another backend after a failure", ["route"])
FAILOVERS = Counter(
    "aigw_failovers_total",
    "Requests answered by a fallback priority group because the first had no healthy target",
    ["route"],
)
EJECTIONS = Counter(
    "aigw_target_ejections_total", "Backends ejected by outlier detection", ["target"]
)
AUTH_FAILURES = Counter(
    "aigw_auth_failures_total", "Requests refused by authentication", ["reason"]
)
RATE_LIMITED = Counter("aigw_rate_limited_total", "Requests refused by a rate limit", ["endpoint"])
TOKEN_LIMITED = Counter(
    "aigw_token_limited_total",
    "AI requests refused by a token limit (reason rate) or a budget (reason budget)",
    ["endpoint", "reason"],
)
FALLBACKS = Counter(
    "aigw_fallbacks_total",
    "Model fallbacks tried, by route, fallback (its model, else its target) and reason",
    ["route", "fallback", "reason"],
)
LEDGER_KEYS_DROPPED = Counter(
    "aigw_token_ledger_keys_dropped_total",
    "Token counts this process forgot to stay within its bound (--redis-url keeps them)",
)
TOKEN_SETTLEMENTS_LOST = Counter(
    "aigw_token_settlements_lost_total",
    "Reconciliations of a token reservation that could not reach Redis (the reservation stays)",
)
LEAST_LOADED_FALLBACKS = Counter(
    "aigw_least_loaded_fallbacks_total",
    "least-loaded picks made by least-request instead: a candidate's load was missing or stale",
    ["route"],
)
BUDGET_JOURNAL_DROPPED = Counter(
    "aigw_budget_journal_dropped_total",
    "Budget charges not kept for a Redis rebuild (the journal was full): lost if Redis is "
    "flushed before the ledger has them",
)
SNAPSHOT_NACKS = Counter("aigw_snapshot_nacks_total", "Snapshots this data plane rejected")
SNAPSHOTS_APPLIED = Counter(
    "aigw_snapshots_applied_total",
    "Snapshots this data plane applied: received whole (full) or as changes (delta)",
    ["kind"],
)
ACCESS_LOG_DROPPED = Counter(
    "aigw_access_log_dropped_total",
    "Access-log lines dropped because the log's reader fell behind (the buffer was full)",
)
CLIENT_TIMEOUTS = Counter(
    "aigw_client_timeouts_total",
    "Client connections closed for a timeout: request_head (408) or idle (keep-alive)",
    ["timeout"],
)
ACCEPT_PAUSES = Counter(
    "aigw_client_accept_pauses_total",
    "Times accepting stopped because --max-connections client connections were open",
)
ACCEPT_ERRORS = Counter(
    "aigw_client_accept_errors_total",
    "Client connections the kernel could not hand over (out of file descriptors, say)",
)
LOG_LINES_DROPPED = Counter(
    "aigw_log_lines_dropped_total",
    "Application log lines dropped because the log's reader fell behind",
)

# The same counts, for the telemetry report.
TALLY = TrafficTally(DURATION_BUCKETS, ttft_bounds=TTFT_BUCKETS, tpot_bounds=TPOT_BUCKETS)

_ejected: set[str] = set()
# Label values of the per-target series made so far, so that those of a backend no route
# uses any more can be removed (prometheus-client does not list its children).
_upstream_series: set[tuple[str, str, str]] = set()
_header_series: set[tuple[str, str]] = set()


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class RouteMetrics:
    """One route's series, bound into the compiled route: a request costs a few increments
    (and dict lookups for the label values only known then), not label resolution.

    The children are made on the route's first request, not when the snapshot compiles: a
    histogram child is a few kilobytes, and of 10,000 routes most may never be called.
    """

    __slots__ = (
        "_ai",
        "_duration",
        "_headers",
        "_request_bytes",
        "_requests",
        "_response_bytes",
        "_upstream",
        "name",
    )  # fmt: skip

    def __init__(self, name: str) -> None:
        self.name = name
        self._duration: Any = None
        self._request_bytes: Any = None
        self._response_bytes: Any = None
        self._requests: dict[tuple[str, int], Any] = {}
        self._upstream: dict[tuple[str, str], Any] = {}
        self._headers: dict[str, Any] = {}
        self._ai: AiSeries | None = None

    @property
    def ai(self) -> AiSeries:
        """The route's AI series (tokens, time to first token), made on first use."""
        if self._ai is None:
            self._ai = AiSeries(self.name)
        return self._ai

    def request(self, method: str, status: int, seconds: float, request_bytes: int) -> None:
        key = (method, status // 100)
        child = self._requests.get(key)
        outcome = status_class(status)
        if child is None:
            child = self._requests[key] = REQUESTS.labels(self.name, method, outcome)
        child.inc()
        duration = self._duration
        if duration is None:
            duration = self._duration = REQUEST_DURATION.labels(self.name)
        duration.observe(seconds)
        if request_bytes:
            if self._request_bytes is None:
                self._request_bytes = REQUEST_BYTES.labels(self.name)
            self._request_bytes.inc(request_bytes)
        TALLY.request(self.name, outcome, seconds, request_bytes)

    def retried(self) -> None:
        RETRIES.labels(self.name).inc()

    def failed_over(self) -> None:
        FAILOVERS.labels(self.name).inc()

    def upstream(self, target: str, status: int | None, header_seconds: float | None) -> None:
        """``status`` None: the backend gave no answer (refused, reset, timed out)."""
        outcome = status_class(status) if status is not None else "error"
        key = (target, outcome)
        child = self._upstream.get(key)
        if child is None:
            child = self._upstream[key] = UPSTREAM_RESPONSES.labels(self.name, target, outcome)
            _upstream_series.add((self.name, target, outcome))
        child.inc()
        TALLY.answer(self.name, target, outcome)
        if header_seconds is not None:
            histogram = self._headers.get(target)
            if histogram is None:
                histogram = self._headers[target] = UPSTREAM_HEADERS.labels(self.name, target)
                _header_series.add((self.name, target))
            histogram.observe(header_seconds)

    def response_bytes(self, size: int) -> None:
        if self._response_bytes is None:
            self._response_bytes = RESPONSE_BYTES.labels(self.name)
        self._response_bytes.inc(size)
        TALLY.response_bytes(self.name, size)


def count_ejection(target: str) -> None:
    _ejected.add(target)
    EJECTIONS.labels(target).inc()


def forget_targets(keep: set[str]) -> None:
    """Drop the series of backends no route uses any more: with hostname targets, pods come
    and go with new addresses, and their series must not pile up here or in Prometheus."""
    for series in [s for s in list(_upstream_series) if s[1] not in keep]:
        UPSTREAM_RESPONSES.remove(*series)
        _upstream_series.discard(series)
    for pair in [s for s in list(_header_series) if s[1] not in keep]:
        UPSTREAM_HEADERS.remove(*pair)
        _header_series.discard(pair)
    for key3 in [k for k in list(TALLY.targets) if k[1] not in keep]:
        del TALLY.targets[key3]
        TALLY.moved_targets.discard(key3)
    for target in [t for t in list(_ejected) if t not in keep]:
        EJECTIONS.remove(target)
        _ejected.discard(target)


class StateCollector(Collector):
    """Read at scrape time: target health, the applied config and the control-plane link."""

    def __init__(self, state: Callable[[], dict[str, Any]]) -> None:
        self._state = state

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # nothing to read at registration: the process is not serving yet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._state()
        health = GaugeMetricFamily(
            "aigw_target_healthy",
            "1 when the backend takes traffic, by state",
            labels=["target", "state"],
        )
        for target in state.get("targets", []):
            health.add_metric(
                [target["target"], target["state"]], 1.0 if target["state"] == "healthy" else 0.0
            )
        yield health
        config = GaugeMetricFamily(
            "aigw_config_info",
            "The snapshot version this data plane serves",
            labels=["version", "cluster"],
        )
        for version in state.get("versions") or (
            [state["version"]] if state.get("version") else []
        ):
            config.add_metric([str(version), str(state["cluster"])], 1.0)
        yield config
        applied = GaugeMetricFamily(
            "aigw_config_applied_timestamp_seconds",
            "When the served snapshot was applied (Unix time)",
        )
        applied.add_metric([], float(state.get("appliedAt") or 0.0))
        yield applied
        in_flight = GaugeMetricFamily("aigw_requests_in_flight", "Requests being served now")
        in_flight.add_metric([], float(state.get("inFlight") or 0))
        yield in_flight
        connections = GaugeMetricFamily(
            "aigw_client_connections", "Client connections open now (accepted, not yet closed)"
        )
        connections.add_metric([], float(state.get("clientConnections") or 0))
        yield connections
        connected = GaugeMetricFamily(
            "aigw_control_plane_connected", "1 while the snapshot stream to the control plane is up"
        )
        connected.add_metric([], 1.0 if state.get("controlPlaneConnected") else 0.0)
        yield connected


def register_state(state: Callable[[], dict[str, Any]]) -> StateCollector:
    collector = StateCollector(state)
    REGISTRY.register(collector)
    return collector
