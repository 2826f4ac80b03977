"""Render answers as a table (for people), JSON or YAML (for scripts)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

# Piped (not a terminal, no COLUMNS): as wide as the rows need, so that a table read by a
# script or a pager is one line per row instead of folded at 80 columns.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 10_000
stdout = Console(soft_wrap=True, width=_WIDTH)
stderr = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def emit_data(data: Any, output: Output) -> bool:
    """Print ``data`` as JSON/YAML; False when the caller should draw a table."""
    if output is Output.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return True
    if output is Output.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
        return True
    return False


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(grid)


def targets_text(route: dict[str, Any]) -> str:
    parts = []
    for target in route.get("targets", []):
        extra = []
        if target.get("weight", 1) != 1:
            extra.append(f"w={target['weight']}")
        if target.get("priority", 0):
            extra.append(f"p={target['priority']}")
        parts.append(target["url"] + (f" ({', '.join(extra)})" if extra else ""))
    return "\n".join(parts)


def routes_table(routes: list[dict[str, Any]]) -> None:
    """Routes made from annotated pods are marked ``(discovered)``; a PODS column names the
    pods that are targets, when any are."""
    pods = any(r.get("discoveredTargets") for r in routes)
    rows = []
    for r in routes:
        row = [
            r["name"] + (" (discovered)" if r.get("origin") == "kubernetes" else ""),
            r["match"],
            r["path"],
            ",".join(r["methods"]) or "*",
            targets_text(r),
        ]
        if pods:
            row.append(", ".join(t["pod"] for t in r.get("discoveredTargets") or []) or "-")
        rows.append((*row, r["id"][:8]))
    columns = ["NAME", "MATCH", "PATH", "METHODS", "TARGETS", *(["PODS"] if pods else []), "ID"]
    table(None, columns, rows)


def security_table(policies: list[dict[str, Any]]) -> None:
    table(
        None,
        ["ENDPOINT", "AUTH", "RATE LIMIT", "TOKEN LIMIT", "BUDGET"],
        [
            (
                p["endpoint"],
                p["auth"],
                p.get("rateLimit") or "-",
                p.get("tokenLimit") or "-",
                _budget(p.get("budget")),
            )
            for p in policies
        ],
    )


def _budget(budget: dict[str, Any] | None) -> str:
    if not budget:
        return "-"
    amount = f"${budget['usd']:g}" if budget.get("usd") else f"{budget.get('tokens')} tokens"
    return f"{amount}/{budget.get('per', 'month')}"


def dataplanes_table(dataplanes: list[dict[str, Any]]) -> None:
    table(
        "data planes",
        ["NODE", "CLUSTER", "APPLIED VERSION", "CONNECTED", "LAST SEEN", "LAST NACK"],
        [
            (
                d["nodeId"],
                d["cluster"],
                d["appliedVersion"] or "-",
                "yes" if d["connected"] else "no",
                d["lastSeen"],
                d.get("lastNack") or "",
            )
            for d in dataplanes
        ],
    )


_SIGNS = {"create": "[green]+[/green]", "update": "[yellow]~[/yellow]", "delete": "[red]-[/red]"}


def diff_lines(result: dict[str, Any]) -> None:
    for change in result["changes"]:
        kind, key = change["kind"], change["key"]
        stdout.print(
            f"{_SIGNS[change['action']]} {kind}" + ("" if key == kind else f" {key}"),
            highlight=False,
        )
        for field in change.get("fields") or []:
            stdout.print(f"    {field}", highlight=False)
    summary = result["summary"]
    if not result["changes"]:
        stdout.print("no changes")
    else:
        stdout.print(
            f"{summary['create']} to create, {summary['update']} to update, "
            f"{summary['delete']} to delete",
            highlight=False,
        )


def health_table(ops_url: str, state: dict[str, Any]) -> None:
    table(
        f"backends seen by {state.get('node', ops_url)} (version {state.get('version') or '-'})",
        ["TARGET", "STATE", "FAILURES IN A ROW", "EJECTIONS", "IN FLIGHT"],
        [
            (t["target"], t["state"], t["consecutiveFailures"], t["timesEjected"], t["inFlight"])
            for t in state.get("targets", [])
        ],
    )


_METRIC_COLUMNS = (
    ("REQUESTS", "requests", "{}"),
    ("REQ/S", "requestsPerSecond", "{:.2f}"),
    ("P50 MS", "p50Ms", "{:.1f}"),
    ("P90 MS", "p90Ms", "{:.1f}"),
    ("P99 MS", "p99Ms", "{:.1f}"),
    ("ERRORS", "errors", "{}"),
    ("ERROR RATE", "errorRate", "{:.1%}"),
    ("4XX", "clientErrors", "{}"),
)


def _metric_cells(figures: dict[str, Any], keys: list[tuple[str, str, str]]) -> list[str]:
    return ["-" if figures.get(key) is None else form.format(figures[key]) for _, key, form in keys]


def metrics_tables(answer: dict[str, Any]) -> None:
    """Per route and in total, with only the columns the answer's type carries."""
    keys = [c for c in _METRIC_COLUMNS if c[1] in answer["total"]]
    title = (
        f"cluster {answer['cluster']}, last {answer['window']}, "
        f"{answer['dataPlanes']} data plane(s) reporting"
    )
    rows = [(r["route"], r.get("path") or "-", *_metric_cells(r, keys)) for r in answer["routes"]]
    if len(answer["routes"]) != 1:
        rows.append(("(all)", "", *_metric_cells(answer["total"], keys)))
    table(title, ["ROUTE", "PATH", *(c[0] for c in keys)], rows)
    failing = [t for t in answer.get("targets", []) if t["errors"]]
    if failing:
        table(
            "backends with errors",
            ["ROUTE", "TARGET", "RESPONSES", "ERRORS", "ERROR RATE"],
            [
                (t["route"], t["target"], t["responses"], t["errors"], f"{t['errorRate']:.1%}")
                for t in failing
            ],
        )


def _tokens(figures: dict[str, Any]) -> tuple[Any, ...]:
    tokens = figures["tokens"]
    cost = figures["costUsd"]
    return (
        figures["requests"],
        tokens["input"],
        tokens["output"],
        tokens["cachedInput"],
        tokens["reasoning"],
        f"{cost:.6f}" if cost else "-",
    )


_TOKEN_COLUMNS = ["REQUESTS", "INPUT", "OUTPUT", "CACHED", "REASONING", "COST USD"]


def usage_table(answer: dict[str, Any]) -> None:
    """Per consumer and model; estimated counts are marked."""
    title = f"cluster {answer['cluster']}, last {answer['window']}, usage per consumer"
    if not answer["consumers"]:
        stdout.print(f"no token usage reported in the last {answer['window']}")
        budgets_table(answer.get("budgets") or [])
        limits_table(answer.get("limits") or [])
        return
    rows = []
    for consumer in answer["consumers"]:
        for model in consumer["models"]:
            estimated = model["estimatedRequests"]
            rows.append(
                (
                    consumer["consumer"] or "(anonymous)",
                    model["model"] + (f" ({estimated} estimated)" if estimated else ""),
                    *_tokens(model),
                )
            )
    rows.append(("(all)", "", *_tokens(answer["total"])))
    table(title, ["CONSUMER", "MODEL", *_TOKEN_COLUMNS], rows)
    budgets_table(answer.get("budgets") or [])
    limits_table(answer.get("limits") or [])


def budgets_table(budgets: list[dict[str, Any]]) -> None:
    """What each budget has spent in its period (from the control plane's ledger)."""
    if not budgets:
        return

    def amount(value: float, unit: str) -> str:
        return f"${value:g}" if unit == "usd" else f"{value:g} tokens"

    table(
        "budgets, this period",
        ["BUDGET", "CALLER", "PERIOD", "SPENT", "OF", "SHARE"],
        [
            (
                b["scope"],
                b["caller"],
                b["period"],
                amount(b["spent"], b["unit"]),
                amount(b["budget"], b["unit"]),
                f"{b['share'] * 100:.0f}%" if b["share"] is not None else "-",
            )
            for b in budgets
        ],
    )


def limits_table(limits: list[dict[str, Any]]) -> None:
    """What each token limit's window holds (tokens the answers used in its last period)."""
    if not limits:
        return

    def period(seconds: float) -> str:
        names = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86_400.0: "day"}
        return names.get(seconds) or f"{seconds:g} s"

    table(
        "token limits, their current window",
        ["LIMIT", "CALLER", "PER", "USED", "OF", "SHARE"],
        [
            (
                w["scope"],
                w["caller"],
                period(w["periodSeconds"])
                + (" (last hour)" if w["windowSeconds"] < w["periodSeconds"] else ""),
                f"{w['tokens']} tokens",
                f"{w['limit']} tokens",
                f"{w['share'] * 100:.0f}%",
            )
            for w in limits
        ],
    )


def tokens_table(answer: dict[str, Any]) -> None:
    title = (
        f"cluster {answer['cluster']}, last {answer['window']}, "
        f"{answer['dataPlanes']} data plane(s) reporting"
    )
    if not answer["models"]:
        stdout.print(f"no token usage reported in the last {answer['window']}")
        return

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    table(
        title,
        [
            "MODEL",
            "TOKENS/S",
            *_TOKEN_COLUMNS,
            "TTFT P50 MS",
            "TTFT P90 MS",
            "TTFT P99 MS",
            "TPOT P50 MS",
        ],
        [
            (
                m["model"],
                m["tokensPerSecond"],
                *_tokens(m),
                ms(m["ttftP50Ms"]),
                ms(m["ttftP90Ms"]),
                ms(m["ttftP99Ms"]),
                ms(m["tpotP50Ms"]),
            )
            for m in answer["models"]
        ],
    )


def webhooks_table(events: list[dict[str, Any]]) -> None:
    table(
        None,
        ["CREATED", "TYPE", "STATUS", "ATTEMPTS", "LAST ERROR", "ID"],
        [
            (
                e["createdAt"],
                e["type"],
                e["status"],
                e["attempts"],
                e.get("lastError") or "",
                e["id"][:8],
            )
            for e in events
        ],
    )
