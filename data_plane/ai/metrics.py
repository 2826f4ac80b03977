"""AI traffic in Prometheus: OpenTelemetry's GenAI metrics and the gateway's own token counters.

Names follow the OpenTelemetry GenAI semantic conventions, version 1.41
(``gen_ai.client.token.usage``, ``gen_ai.server.time_to_first_token``,
``gen_ai.server.time_per_output_token``) in their Prometheus form: dots become
underscores and the unit ``s`` becomes ``_seconds``; the bucket boundaries are
the ones the conventions advise. ``aigw_tokens_total`` and
``aigw_cost_usd_total`` are per route, for dashboards that sum.

Model labels are bounded. A requested model is its own label only when the
configuration names it (a route's ``models:``, a target's ``model:``, the price
table); any other name is ``other``, so a client cannot create series. A
response model is what the backend said, up to ``MAX_RESPONSE_MODELS`` distinct
names per process, then ``other``. Per-consumer figures are not labels: they
go to the control plane (``GET /api/v1/usage``).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

from data_plane.ai.shapes import ApiShape

if TYPE_CHECKING:
    from data_plane.proxy.exchange import Exchange

SEMCONV_VERSION = "1.41.0"
OTHER = "other"
MAX_RESPONSE_MODELS = 100
TOKEN_BUCKETS = tuple(float(4**n) for n in range(14))  # 1, 4, 16 ... 67108864
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                5.0, 7.5, 10.0)  # fmt: skip
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
_GEN_AI = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
           "gen_ai_response_model"]  # fmt: skip

TOKEN_USAGE = Histogram(
    "gen_ai_client_token_usage",
    "Tokens used per request, by token type (input, output): OpenTelemetry GenAI semconv",
    [*_GEN_AI, "gen_ai_token_type"],
    buckets=TOKEN_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "gen_ai_server_time_to_first_token_seconds",
    "From the request's arrival to the first content-bearing event of a stream",
    _GEN_AI,
    buckets=TTFT_BUCKETS,
)
TIME_PER_OUTPUT_TOKEN = Histogram(
    "gen_ai_server_time_per_output_token_seconds",
    "Time per output token after the first, of a stream",
    _GEN_AI,
    buckets=TPOT_BUCKETS,
)
TOKENS = Counter(
    "aigw_tokens_total",
    "Tokens by route, model and type (input, output, cached_input, reasoning)",
    ["route", "model", "type"],
)
COST = Counter("aigw_cost_usd_total", "Cost in USD from the price table", ["route", "model"])
ESTIMATED = Counter(
    "aigw_usage_estimated_total",
    "Answers whose usage the gateway estimated (the backend reported none, or it was cut)",
    ["route"],
)

_response_models: set[str] = set()


class ModelLabels:
    """The model label values one snapshot allows (made once per snapshot)."""

    def __init__(self, configured: frozenset[str]) -> None:
        self._configured = configured

    def pair(self, model: str | None, response_model: str | None) -> tuple[str, str]:
        """The (requested, responded) labels of an answer; one call for the common case of a
        backend that answers with the configured name it was asked for."""
        if model is not None and model == response_model and model in self._configured:
            return model, model
        return self.requested(model), self.responded(response_model)

    def requested(self, model: str | None) -> str:
        if model is None:
            return ""
        return model if model in self._configured else OTHER

    def responded(self, model: str | None) -> str:
        if model is None:
            return ""
        if model in self._configured or model in _response_models:
            return model
        if len(_response_models) < MAX_RESPONSE_MODELS:
            _response_models.add(model)
            return model
        return OTHER


class _ModelSeries:
    """One route's series for one (API, requested, responded model): the label children, and
    what was counted since they were last brought up to date (see ``flush``)."""

    __slots__ = (
        "children",
        "cost",
        "estimated",
        "histograms",
        "tokens",
    )

    def __init__(self, route: str, shape: ApiShape, requested: str, responded: str) -> None:
        gen_ai = (shape.operation, shape.provider, requested, responded or requested)
        model = responded or requested
        # input usage, output usage, time to first token, time per output token
        histograms = (
            TOKEN_USAGE.labels(*gen_ai, "input"),
            TOKEN_USAGE.labels(*gen_ai, "output"),
            TIME_TO_FIRST_TOKEN.labels(*gen_ai),
            TIME_PER_OUTPUT_TOKEN.labels(*gen_ai),
        )
        self.children: tuple[Any, ...] = (
            *histograms,
            *(TOKENS.labels(route, model, kind) for kind in _KINDS),
            COST.labels(route, model),
            ESTIMATED.labels(route),
        )
        self.histograms = [_Pending(child) for child in histograms]
        self.tokens = [0, 0, 0, 0]  # input, output, cached_input, reasoning
        self.cost = 0.0
        self.estimated = 0

    def flush(self) -> None:
        for pending in self.histograms:
            pending.flush()
        counters = self.children[4:]
        for index, count in enumerate(self.tokens):
            if count:
                counters[index].inc(count)
        if self.cost:
            counters[4].inc(self.cost)
        if self.estimated:
            counters[5].inc(self.estimated)
        self.tokens = [0, 0, 0, 0]
        self.cost = 0.0
        self.estimated = 0


class _Pending:
    """Observations of one histogram child not yet handed to it: counts per bucket and a sum."""

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds: list[float] = list(child._upper_bounds)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        if not any(self.counts):
            return
        # What Histogram.observe does per value (each value counts in the first bucket whose
        # bound holds it; the exposition adds them up), once per bucket for all of them.
        buckets = self.child._buckets
        for index, count in enumerate(self.counts):
            if count:
                buckets[index].inc(count)
        self.child._sum.inc(self.total)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0


_KINDS = ("input", "output", "cached_input", "reasoning")
_moved: set[_ModelSeries] = set()


def flush() -> None:
    """Bring the AI series' children up to date: before each scrape, and every second (so
    that, with ``--workers``, another worker's scrape sees them within a second)."""
    while _moved:
        _moved.pop().flush()


class AiSeries:
    """One route's AI series, their label children made once per model pair.

    A request adds to plain counters here; ``flush`` hands them to prometheus-client. Written
    by hand because prometheus-client takes a lock and walks the buckets in Python for each
    update: the six or so updates of one answer cost ~6 us a request that way (cProfile,
    bench/PROFILE.md), a few list increments this way.
    """

    __slots__ = ("_models", "route")

    def __init__(self, route: str) -> None:
        self.route = route
        self._models: dict[tuple[ApiShape, str, str], _ModelSeries] = {}

    def record(self, requested: str, responded: str, exchange: Exchange) -> None:
        """An answer's usage, cost and stream timings (read from its exchange), under its
        bounded model labels."""
        ai, usage = exchange.ai, exchange.usage
        if ai is None or usage is None:
            return
        shape, cost = ai.shape, exchange.cost_usd
        ttft, tpot = exchange.ttft_seconds, exchange.tpot_seconds
        key = (shape, requested, responded)
        series = self._models.get(key)
        if series is None:
            series = self._models[key] = _ModelSeries(self.route, shape, requested, responded)
        histograms = series.histograms  # _Pending.add, inlined: one call less per update
        pending = histograms[0]
        pending.counts[bisect.bisect_left(pending.bounds, usage.input)] += 1
        pending.total += usage.input
        if shape is not ApiShape.EMBEDDINGS:
            pending = histograms[1]
            pending.counts[bisect.bisect_left(pending.bounds, usage.output)] += 1
            pending.total += usage.output
        if ttft is not None:
            histograms[2].add(ttft)
        if tpot is not None:
            histograms[3].add(tpot)
        tokens = series.tokens
        tokens[0] += usage.input
        tokens[1] += usage.output
        tokens[2] += usage.cached_input
        tokens[3] += usage.reasoning
        if cost:
            series.cost += cost
        if usage.estimated:
            series.estimated += 1
        _moved.add(series)
