"""Tokens and cost over a window, from every data plane: ``GET /api/v1/usage`` and the tokens
part of ``GET /api/v1/metrics?type=tokens``.

Per-consumer figures live here, at the control plane, and not as Prometheus
labels (a label per consumer is a series per consumer on every data plane).
Consumer ``""`` is anonymous traffic (a route with no authentication), shown as
``null``. Cost is in USD from the cluster's price table; a model without a price
adds no cost.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from control_plane.telemetry.histogram import BucketCounts
from control_plane.telemetry.traffic import Traffic

_KINDS = ("input", "output", "cached_input", "reasoning")
_NAMES = {"input": "input", "output": "output", "cached_input": "cachedInput",
          "reasoning": "reasoning"}  # fmt: skip


def _figures(counts: Counter[str], cost: float) -> dict[str, Any]:
    tokens = {_NAMES[k]: counts[k] for k in _KINDS}
    tokens["total"] = counts["input"] + counts["output"]
    return {
        "requests": counts["requests"],
        "tokens": tokens,
        "estimatedRequests": counts["estimated"],
        "costUsd": round(cost, 6),
    }


def usage_summary(
    traffic: Traffic, consumer: str | None = None, model: str | None = None
) -> dict[str, Any]:
    """Per consumer (and per model within it): requests, tokens by type, cost."""
    by_consumer: dict[str, dict[str, Counter[str]]] = {}
    costs: dict[tuple[str, str], float] = {}
    for (_route, row_model, row_consumer, kind), count in traffic.tokens.items():
        if (consumer is not None and row_consumer != consumer) or (
            model is not None and row_model != model
        ):
            continue
        by_consumer.setdefault(row_consumer, {}).setdefault(row_model, Counter())[kind] += count
    for (_route, row_model, row_consumer), usd in traffic.cost.items():
        if row_consumer in by_consumer and row_model in by_consumer[row_consumer]:
            key = (row_consumer, row_model)
            costs[key] = costs.get(key, 0.0) + usd
    consumers = []
    total: Counter[str] = Counter()
    total_cost = 0.0
    for name in sorted(by_consumer):
        models = by_consumer[name]
        counts: Counter[str] = Counter()
        cost = 0.0
        rows = []
        for model_name in sorted(models):
            counts.update(models[model_name])
            model_cost = costs.get((name, model_name), 0.0)
            cost += model_cost
            rows.append({"model": model_name, **_figures(models[model_name], model_cost)})
        total.update(counts)
        total_cost += cost
        consumers.append({"consumer": name or None, **_figures(counts, cost), "models": rows})
    return {"total": _figures(total, total_cost), "consumers": consumers}


def _ms(counts: BucketCounts | None, q: float) -> float | None:
    value = counts.quantile(q) if counts is not None else None
    return None if value is None else round(value * 1000, 2)


def token_summary(traffic: Traffic, window: float) -> dict[str, Any]:
    """Per model: tokens per second and totals, time to first token p50/p90/p99 and time per
    output token p50/p99 (streams), cost."""
    per_model: dict[str, Counter[str]] = {}
    for (_route, model, _consumer, kind), count in traffic.tokens.items():
        per_model.setdefault(model, Counter())[kind] += count
    cost: dict[str, float] = {}
    for (_route, model, _consumer), usd in traffic.cost.items():
        cost[model] = cost.get(model, 0.0) + usd
    models = []
    for model in sorted(set(per_model) | set(traffic.ttft)):
        counts = per_model.get(model, Counter())
        total = counts["input"] + counts["output"]
        ttft, tpot = traffic.ttft.get(model), traffic.tpot.get(model)
        models.append(
            {
                "model": model,
                **_figures(counts, cost.get(model, 0.0)),
                "tokensPerSecond": round(total / window, 3),
                "outputTokensPerSecond": round(counts["output"] / window, 3),
                "ttftP50Ms": _ms(ttft, 0.5),
                "ttftP90Ms": _ms(ttft, 0.9),
                "ttftP99Ms": _ms(ttft, 0.99),
                "tpotP50Ms": _ms(tpot, 0.5),
                "tpotP99Ms": _ms(tpot, 0.99),
            }
        )
    every: Counter[str] = Counter()
    for counts in per_model.values():
        every.update(counts)
    return {
        "total": {
            **_figures(every, sum(cost.values())),
            "tokensPerSecond": round((every["input"] + every["output"]) / window, 3),
        },
        "models": models,
    }
