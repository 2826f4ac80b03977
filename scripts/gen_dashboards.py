"""Write the Grafana dashboards in deploy/grafana/dashboards/ from the panel list below.

Usage: python scripts/gen_dashboards.py [OUT_DIR]

The panels are data here so that every query is written once; a test checks
the committed JSON is what this script writes, and runs every query against
a real Prometheus scraping a gateway under traffic.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "deploy" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
ROUTE = 'route=~"$route"'


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | table
    description: str = ""
    width: int = 12


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _quantile(q: float, metric: str, by: str, selector: str = ROUTE) -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{RATE}])))"
    )


TRAFFIC = Dashboard(
    uid="aigw-traffic",
    title="ai-gateway: traffic, latency and backends",
    description="What the data planes serve: requests, errors, latency per route, backend "
    "health, retries, rate limiting and authentication failures.",
    variables=(
        {
            "name": "route",
            "label": "Route",
            "type": "query",
            "datasource": DATASOURCE,
            "definition": "label_values(aigw_requests_total, route)",
            "query": {"query": "label_values(aigw_requests_total, route)", "refId": "route"},
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "refresh": 2,
            "sort": 1,
            "current": {"text": "All", "value": "$__all"},
        },
    ),
    rows=(
        Row(
            "Traffic",
            (
                Panel(
                    "Requests per second by route",
                    (
                        (
                            f"sum by (route) (rate(aigw_requests_total{{{ROUTE}}}[{RATE}]))",
                            "{{route}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Requests per second by status class",
                    (
                        (
                            f"sum by (status_class) (rate(aigw_requests_total{{{ROUTE}}}[{RATE}]))",
                            "{{status_class}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Requests in flight",
                    (("sum(aigw_requests_in_flight)", "in flight"),),
                ),
                Panel(
                    "Response bytes per second by route",
                    (
                        (
                            f"sum by (route) (rate(aigw_response_bytes_total{{{ROUTE}}}[{RATE}]))",
                            "{{route}}",
                        ),
                    ),
                    unit="Bps",
                ),
            ),
        ),
        Row(
            "Errors",
            (
                Panel(
                    "Error rate (5xx share) by route",
                    (
                        (
                            f'sum by (route) (rate(aigw_requests_total{{{ROUTE},status_class="5xx"}}[{RATE}]))'
                            f" / sum by (route) (rate(aigw_requests_total{{{ROUTE}}}[{RATE}]))",
                            "{{route}}",
                        ),
                    ),
                    unit="percentunit",
                    description="No line for a route that answered no 5xx.",
                ),
                Panel(
                    "Backend failures by target (5xx or no answer)",
                    (
                        (
                            f'sum by (target) (rate(aigw_upstream_responses_total{{{ROUTE},status_class=~"5xx|error"}}[{RATE}]))',
                            "{{target}}",
                        ),
                    ),
                    unit="reqps",
                ),
            ),
        ),
        Row(
            "Latency",
            (
                Panel(
                    "Request latency p50 / p90 / p99 by route",
                    tuple(
                        (
                            _quantile(q, "aigw_request_duration_seconds", "route"),
                            f"p{label} {{{{route}}}}",
                        )
                        for q, label in ((0.5, "50"), (0.9, "90"), (0.99, "99"))
                    ),
                    unit="s",
                    description="Arrival of the request to the last byte of the answer.",
                ),
                Panel(
                    "Backend time to response headers p99 by target",
                    (
                        (
                            _quantile(0.99, "aigw_upstream_response_headers_seconds", "target"),
                            "{{target}}",
                        ),
                    ),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Backends",
            (
                Panel(
                    "Backend health (1 = healthy)",
                    (("max by (target, state) (aigw_target_healthy)", "{{target}} {{state}}"),),
                    kind="table",
                ),
                Panel(
                    "Ejections per second by target",
                    (
                        (
                            "sum by (target) (rate(aigw_target_ejections_total[$__rate_interval]))",
                            "{{target}}",
                        ),
                    ),
                ),
                Panel(
                    "Failovers to a fallback priority group per second by route",
                    (
                        (
                            f"sum by (route) (rate(aigw_failovers_total{{{ROUTE}}}[{RATE}]))",
                            "{{route}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Retries per second by route",
                    (
                        (
                            f"sum by (route) (rate(aigw_retries_total{{{ROUTE}}}[{RATE}]))",
                            "{{route}}",
                        ),
                    ),
                    unit="reqps",
                ),
            ),
        ),
        Row(
            "Security",
            (
                Panel(
                    "Rate-limited requests per second by endpoint",
                    (
                        (
                            f"sum by (endpoint) (rate(aigw_rate_limited_total[{RATE}]))",
                            "{{endpoint}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Authentication failures per second by reason",
                    ((f"sum by (reason) (rate(aigw_auth_failures_total[{RATE}]))", "{{reason}}"),),
                    unit="reqps",
                ),
            ),
        ),
    ),
)

CONFIG = Dashboard(
    uid="aigw-config",
    title="ai-gateway: configuration propagation",
    description="Whether configuration reaches every data plane, and how fast.",
    rows=(
        Row(
            "Data planes",
            (
                Panel(
                    "Data planes per config version",
                    (("count by (version) (aigw_config_info)", "{{version}}"),),
                    kind="table",
                    description="More than one version for long means a data plane is stuck.",
                ),
                Panel(
                    "Seconds since each data plane applied its config",
                    (("time() - aigw_config_applied_timestamp_seconds", "{{instance}}"),),
                    unit="s",
                ),
                Panel(
                    "Data planes connected to the control plane",
                    (("sum(aigw_control_plane_connected)", "connected"),),
                    kind="stat",
                ),
                Panel(
                    "Snapshots rejected (NACKs) in the range",
                    (("sum(increase(aigw_snapshot_nacks_total[$__range]))", "NACKs"),),
                    kind="stat",
                ),
            ),
        ),
        Row(
            "Control plane",
            (
                Panel(
                    "Connected data planes by cluster",
                    (("sum by (cluster) (aigw_cp_dataplanes_connected)", "{{cluster}}"),),
                ),
                Panel(
                    "Propagation: publication to ACK, p50 / p99",
                    tuple(
                        (
                            _quantile(q, "aigw_cp_propagation_seconds", "cluster", ""),
                            f"p{label} {{{{cluster}}}}",
                        )
                        for q, label in ((0.5, "50"), (0.99, "99"))
                    ),
                    unit="s",
                ),
                Panel(
                    "Propagation lag of each data plane's last ACK",
                    (("max by (node) (aigw_cp_dataplane_propagation_lag_seconds)", "{{node}}"),),
                    unit="s",
                ),
                Panel(
                    "Snapshot build time p99",
                    (
                        (
                            f"histogram_quantile(0.99, sum by (le) (rate(aigw_cp_snapshot_build_seconds_bucket[{RATE}])))",
                            "p99",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Webhook attempts per second by outcome",
                    (
                        (
                            f"sum by (outcome) (rate(aigw_cp_webhook_deliveries_total[{RATE}]))",
                            "{{outcome}}",
                        ),
                    ),
                    description="retry: the callback URL did not take it and it will be tried again.",
                ),
                Panel(
                    "Config store errors per second",
                    (
                        (
                            f"sum by (operation) (rate(aigw_cp_store_errors_total[{RATE}]))",
                            "{{operation}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

MODEL = 'gen_ai_request_model=~".+"'
AI = Dashboard(
    uid="aigw-ai",
    title="ai-gateway: models, tokens and cost",
    description="AI traffic: tokens per model, time to first token and per output token "
    "(streams), cost from the price table, and the consumers that use the most (from the "
    "control plane).",
    rows=(
        Row(
            "Tokens",
            (
                Panel(
                    "Tokens per second by model",
                    (
                        (
                            "sum by (model) (rate(aigw_tokens_total"
                            f'{{type=~"input|output"}}[{RATE}]))',
                            "{{model}}",
                        ),
                    ),
                ),
                Panel(
                    "Output tokens per second by route",
                    (
                        (
                            f'sum by (route) (rate(aigw_tokens_total{{type="output"}}[{RATE}]))',
                            "{{route}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Latency of streams",
            (
                Panel(
                    "Time to first token by model, p50 and p99",
                    (
                        (
                            _quantile(
                                0.5,
                                "gen_ai_server_time_to_first_token_seconds",
                                "gen_ai_request_model",
                                MODEL,
                            ),
                            "p50 {{gen_ai_request_model}}",
                        ),
                        (
                            _quantile(
                                0.99,
                                "gen_ai_server_time_to_first_token_seconds",
                                "gen_ai_request_model",
                                MODEL,
                            ),
                            "p99 {{gen_ai_request_model}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Time per output token by model, p50 and p99",
                    (
                        (
                            _quantile(
                                0.5,
                                "gen_ai_server_time_per_output_token_seconds",
                                "gen_ai_request_model",
                                MODEL,
                            ),
                            "p50 {{gen_ai_request_model}}",
                        ),
                        (
                            _quantile(
                                0.99,
                                "gen_ai_server_time_per_output_token_seconds",
                                "gen_ai_request_model",
                                MODEL,
                            ),
                            "p99 {{gen_ai_request_model}}",
                        ),
                    ),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Cost and consumers",
            (
                Panel(
                    "Cost per model in the range (USD)",
                    (("sum by (model) (increase(aigw_cost_usd_total[$__range]))", "{{model}}"),),
                    unit="currencyUSD",
                    kind="table",
                ),
                Panel(
                    "Top consumers by tokens in the range",
                    (
                        (
                            "topk(10, sum by (consumer) "
                            "(increase(aigw_cp_consumer_tokens_total[$__range])))",
                            "{{consumer}}",
                        ),
                    ),
                    kind="table",
                    description="From the control plane: the data planes keep no per-consumer "
                    "series.",
                ),
                Panel(
                    "Top consumers by cost in the range (USD)",
                    (
                        (
                            "topk(10, sum by (consumer) "
                            "(increase(aigw_cp_consumer_cost_usd_total[$__range])))",
                            "{{consumer}}",
                        ),
                    ),
                    unit="currencyUSD",
                    kind="table",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (TRAFFIC, CONFIG, AI)


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                **({"instant": True, "format": "table"} if panel.kind == "table" else {}),
            }
            for index, (expr, legend) in enumerate(panel.queries)
        ],
    }
    if panel.kind == "timeseries":
        rendered["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}}
    return rendered


def render(dashboard: Dashboard) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for row in dashboard.rows:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel(panel, next_id, x, y))
            next_id += 1
            x += panel.width
        y += 8
    datasource_variable = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "refresh": 1,
        "hide": 0,
        "current": {},
    }
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["ai-gateway"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [datasource_variable, *dashboard.variables]},
        "annotations": {"list": []},
        "panels": panels,
    }


def write(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for dashboard in DASHBOARDS:
        path = out_dir / f"{dashboard.uid}.json"
        path.write_text(json.dumps(render(dashboard), indent=2) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
