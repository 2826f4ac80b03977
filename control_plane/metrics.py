"""The control plane's own Prometheus metrics (``GET /metrics`` on the admin port).

Data planes' traffic is not here: each data plane exposes its own, and the
fleet view is ``GET /api/v1/metrics``. These say whether configuration
reaches the fleet and how fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from control_plane.telemetry.traffic import Traffic

_FAST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SNAPSHOT_BUILD = Histogram(
    "aigw_cp_snapshot_build_seconds",
    "Reading a cluster's configuration and building its snapshot",
    buckets=_FAST_BUCKETS,
)
SNAPSHOT_BUILD_FAILING = Gauge(
    "aigw_cp_snapshot_build_failing",
    "1 while a cluster's current revision cannot be built (its last snapshot that built serves)",
    ["cluster"],
)
SNAPSHOTS_SENT = Counter(
    "aigw_cp_snapshots_sent_total",
    "Snapshots sent to data planes: whole (full) or as changes to the one held (delta)",
    ["cluster", "kind"],
)
DELTAS_RESENT = Counter(
    "aigw_cp_deltas_resent_whole_total",
    "Deltas a data plane could not apply, sent again as the whole snapshot",
    ["cluster"],
)
SNAPSHOT_BYTES_SENT = Counter(
    "aigw_cp_snapshot_bytes_sent_total",
    "Bytes of the snapshots sent to data planes, whole (full) or as changes (delta)",
    ["cluster", "kind"],
)
PROPAGATION = Histogram(
    "aigw_cp_propagation_seconds",
    "From a snapshot's publication to a data plane's ACK of it",
    ["cluster"],
    buckets=_FAST_BUCKETS,
)
SNAPSHOT_NACKS = Counter(
    "aigw_cp_snapshot_nacks_total", "Snapshots a data plane rejected", ["cluster"]
)
STORE_ERRORS = Counter(
    "aigw_cp_store_errors_total",
    "Failed reads or writes of the config store, by what was being done",
    ["operation"],
)
for _operation in (
    "poll",
    "admin",
    "webhooks",
    "telemetry",
):  # known up front: exported at 0, so a rate has data
    STORE_ERRORS.labels(_operation)
WEBHOOK_DELIVERIES = Counter(
    "aigw_cp_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retry (will be tried again), gave_up",
    ["outcome"],
)
WEBHOOK_ERRORS = Counter(
    "aigw_cp_webhook_errors_total",
    "Webhook attempts the callback URL did not take (non-2xx or no answer)",
)
for _outcome in ("delivered", "retry", "gave_up"):
    WEBHOOK_DELIVERIES.labels(_outcome)
AUTH_THROTTLED_TOTAL = Counter(
    "aigw_cp_auth_throttled_total",
    "Admin requests refused with 429 because their address sent too many wrong keys",
)
TELEMETRY_REPORTS = Counter(
    "aigw_cp_telemetry_reports_total", "Telemetry reports received from data planes"
)
CONSUMER_TOKENS = Counter(
    "aigw_cp_consumer_tokens_total",
    "Tokens the data planes reported, per consumer (anonymous: empty) and type (input, output)",
    ["cluster", "consumer", "type"],
)
CONSUMER_COST = Counter(
    "aigw_cp_consumer_cost_usd_total",
    "Cost in USD from the price table, per consumer",
    ["cluster", "consumer"],
)
MAX_CONSUMER_SERIES = 1000  # consumers with their own series; the rest count as "other"
_consumers: set[tuple[str, str]] = set()


def _consumer_label(cluster: str, consumer: str) -> str:
    key = (cluster, consumer)
    if key in _consumers:
        return consumer
    if len(_consumers) < MAX_CONSUMER_SERIES:
        _consumers.add(key)
        return consumer
    return "other"


def count_usage(cluster: str, delta: Traffic) -> None:
    """What one report added, per consumer: the dashboards' top consumers."""
    for (_route, _model, consumer, kind), count in delta.tokens.items():
        if kind in ("input", "output"):
            CONSUMER_TOKENS.labels(cluster, _consumer_label(cluster, consumer), kind).inc(count)
    for (_route, _model, consumer), usd in delta.cost.items():
        CONSUMER_COST.labels(cluster, _consumer_label(cluster, consumer)).inc(usd)


class FleetCollector(Collector):
    """Read at scrape time: who is connected and how far behind each one's ACK was."""

    def __init__(
        self,
        connected: Callable[[], dict[tuple[str, str], str]],
        lags: Callable[[], dict[tuple[str, str], float]],
    ) -> None:
        self._connected = connected
        self._lags = lags

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        per_cluster: dict[str, int] = {}
        for cluster, _node in self._connected():
            per_cluster[cluster] = per_cluster.get(cluster, 0) + 1
        connected = GaugeMetricFamily(
            "aigw_cp_dataplanes_connected",
            "Data planes with an open snapshot stream to this control plane",
            labels=["cluster"],
        )
        for cluster, count in sorted(per_cluster.items()):
            connected.add_metric([cluster], count)
        yield connected
        lag = GaugeMetricFamily(
            "aigw_cp_dataplane_propagation_lag_seconds",
            "For each data plane, how long its last ACK came after the snapshot's publication",
            labels=["cluster", "node"],
        )
        for (cluster, node), seconds in sorted(self._lags().items()):
            lag.add_metric([cluster, node], seconds)
        yield lag


def register_fleet(collector: FleetCollector) -> FleetCollector:
    REGISTRY.register(collector)
    return collector


DISCOVERY_EVENTS = Counter(
    "aigw_cp_discovery_watch_events_total",
    "Pod watch events the Kubernetes discovery read, by type (added, modified, deleted, bookmark)",
    ["type"],
)
DISCOVERY_REJECTED = Counter(
    "aigw_cp_discovery_pods_rejected_total",
    "Annotated pods that did not become backends: annotations (a value the gateway cannot use; "
    "logged with the pod), too_many_pods (past the discovery's cap)",
    ["reason"],
)
