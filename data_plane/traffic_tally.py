"""Cumulative traffic counts for the telemetry report, kept beside the Prometheus metrics.

Reading prometheus-client's metrics back is slow (its ``collect()`` formats every
sample: about 2 s for 10,000 routes with traffic, on the event loop). These plain
dicts cost a few increments per request, and they note which routes and targets
moved, so a report carries only those and stays small however many routes exist.
"""

from __future__ import annotations

import bisect
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import Counter

from protos.telemetry_pb2 import BudgetCharge, BudgetEvent, LimitUse

if TYPE_CHECKING:
    from data_plane.proxy.exchange import Exchange

MAX_TOKEN_SERIES = 10_000  # (route, model, consumer) kept apart; beyond, consumer "other"
MAX_BUDGET_EVENTS = 1000  # budget events waiting for the next report
MAX_BUDGET_TOLD = 100_000  # (kind, budget key) already told
MAX_BUDGET_CHARGES = 1000  # budgets charged between two batches; beyond, dropped and counted
BUDGET_CHARGES_DROPPED = Counter(
    "aigw_budget_charges_dropped_total",
    "Budget charges not sent to the control plane's ledger (too many budgets in one batch)",
)
ACKS_KEPT_SECONDS = 120.0  # longer than the budget journal waits before pruning (30 s)
MAX_LIMIT_USES = 10_000  # token-limit windows used between two reports; beyond, dropped
LIMIT_USES_DROPPED = Counter(
    "aigw_limit_uses_dropped_total",
    "Token-limit usage not reported to the control plane (too many windows in one report)",
)
BUDGET_EVENTS_DROPPED = Counter(
    "aigw_budget_events_dropped_total",
    "Budget webhook events dropped because too many waited for the next telemetry report",
)


@dataclass(slots=True)
class RouteCounts:
    by_status: dict[str, int]  # "2xx" -> requests
    buckets: list[int]  # per bucket of the duration histogram, the last one +Inf
    seconds: float = 0.0  # the histogram's sum
    request_bytes: int = 0
    response_bytes: int = 0


@dataclass(slots=True)
class TokenCounts:
    requests: int = 0
    input: int = 0
    output: int = 0
    cached_input: int = 0
    reasoning: int = 0
    estimated: int = 0  # requests whose usage was estimated
    cost: float = 0.0


@dataclass(slots=True)
class LatencyCounts:
    """A model's stream timings, as histogram buckets (the last one +Inf) and sums."""

    ttft: list[int]
    tpot: list[int]
    ttft_sum: float = 0.0
    tpot_sum: float = 0.0


@dataclass(slots=True)
class TrafficTally:
    bounds: tuple[float, ...]  # the duration histogram's buckets (upper bounds, seconds)
    routes: dict[str, RouteCounts] = field(default_factory=dict)
    targets: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    moved_routes: set[str] = field(default_factory=set)
    moved_targets: set[tuple[str, str]] = field(default_factory=set)
    # route -> (model, consumer) -> counts; a report carries a moved route's entries whole
    tokens_by_route: dict[str, dict[tuple[str, str], TokenCounts]] = field(default_factory=dict)
    token_series: int = 0
    ttft_bounds: tuple[float, ...] = ()
    tpot_bounds: tuple[float, ...] = ()
    latency: dict[str, LatencyCounts] = field(default_factory=dict)  # by model
    budget_events: list[BudgetEvent] = field(default_factory=list)  # not yet reported
    budget_told: set[tuple[str, str]] = field(default_factory=set)  # (kind, budget key)
    budget_charges: dict[str, BudgetCharge] = field(default_factory=dict)  # by key, unsent
    limit_uses: dict[str, LimitUse] = field(default_factory=dict)  # by window key, unsent
    # The batches budget charges go in: the number of the one being filled, and the last
    # ones the control plane acknowledged, with when (monotonic), newest last.
    charges_batch: int = 1
    charges_acked: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

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

    def tokens(self, route: str, model: str, exchange: Exchange) -> None:
        """An answer's usage, cost and stream timings (read from its exchange), under
        ``model`` (its bounded label)."""
        usage = exchange.usage
        if usage is None:
            return
        consumer = exchange.consumer or ""
        cost, ttft, tpot = exchange.cost_usd, exchange.ttft_seconds, exchange.tpot_seconds
        by_key = self.tokens_by_route.get(route)
        if by_key is None:
            by_key = self.tokens_by_route[route] = {}
        key = (model, consumer)
        counts = by_key.get(key)
        if counts is None:
            if self.token_series >= MAX_TOKEN_SERIES:
                key = (model, "other")
                counts = by_key.get(key)
            if counts is None:
                counts = by_key[key] = TokenCounts()
                self.token_series += 1
        counts.requests += 1
        counts.input += usage.input
        counts.output += usage.output
        counts.cached_input += usage.cached_input
        counts.reasoning += usage.reasoning
        counts.estimated += usage.estimated
        if cost:
            counts.cost += cost
        self.moved_routes.add(route)
        if ttft is not None or tpot is not None:
            latency = self.latency.get(model)
            if latency is None:
                latency = self.latency[model] = LatencyCounts(
                    [0] * (len(self.ttft_bounds) + 1), [0] * (len(self.tpot_bounds) + 1)
                )
            if ttft is not None:
                latency.ttft[bisect.bisect_left(self.ttft_bounds, ttft)] += 1
                latency.ttft_sum += ttft
            if tpot is not None:
                latency.tpot[bisect.bisect_left(self.tpot_bounds, tpot)] += 1
                latency.tpot_sum += tpot

    def budget_event(self, kind: str, key: str, event: BudgetEvent) -> None:
        """Once per kind and budget key (its caller and period are in it); bounded: past
        MAX_BUDGET_EVENTS waiting, events are dropped and counted."""
        told = (kind, key)
        if told in self.budget_told:
            return
        if len(self.budget_told) >= MAX_BUDGET_TOLD:
            self.budget_told.clear()  # may tell one again: better than growing
        self.budget_told.add(told)
        if len(self.budget_events) >= MAX_BUDGET_EVENTS:
            BUDGET_EVENTS_DROPPED.inc()
            return
        self.budget_events.append(event)

    def budget_charge(self, key: str, amount: int, make: Callable[[], BudgetCharge]) -> None:
        """What an answer cost a budget, for the control plane's ledger (``make``: the
        budget's description, made the first time a batch sees it)."""
        charge = self.budget_charges.get(key)
        if charge is None:
            if len(self.budget_charges) >= MAX_BUDGET_CHARGES:
                BUDGET_CHARGES_DROPPED.inc()
                return
            charge = self.budget_charges[key] = make()
        charge.amount += amount

    def take_budget_charges(self) -> tuple[int, list[BudgetCharge]]:
        """The charges since the last take, as the batch numbered ``charges_batch`` (then
        the next number is filled); no charges, no batch."""
        charges, self.budget_charges = list(self.budget_charges.values()), {}
        number = self.charges_batch
        if charges:
            self.charges_batch += 1
        return number, charges

    def budget_batch_acked(self, number: int) -> None:
        """Kept for ACKS_KEPT_SECONDS, and the newest one older than that: however often the
        control plane acknowledges, a batch acknowledged long enough ago is known."""
        now = time.monotonic()
        acked = self.charges_acked
        acked.append((now, number))
        while len(acked) > 1 and acked[1][0] < now - ACKS_KEPT_SECONDS:
            acked.popleft()

    def batch_acked_before(self, moment: float) -> int:
        """The last batch the control plane acknowledged before ``moment`` (0: none known)."""
        return max((n for at, n in self.charges_acked if at < moment), default=0)

    def take_budget_events(self) -> list[BudgetEvent]:
        """What to report; hand it back with ``give_back_budget_events`` if unsent."""
        events, self.budget_events = self.budget_events, []
        return events

    def limit_use(self, key: str, tokens: int, make: Callable[[], LimitUse]) -> None:
        """What an answer used against a token limit's window, for ``usage`` at the control
        plane (``make``: the window's description, made the first time a report sees it)."""
        use = self.limit_uses.get(key)
        if use is None:
            if len(self.limit_uses) >= MAX_LIMIT_USES:
                LIMIT_USES_DROPPED.inc()
                return
            use = self.limit_uses[key] = make()
        use.tokens += tokens

    def take_limit_uses(self) -> dict[str, LimitUse]:
        """What to report; hand it back with ``give_back_limit_uses`` if unsent."""
        uses, self.limit_uses = self.limit_uses, {}
        return uses

    def give_back_limit_uses(self, uses: dict[str, LimitUse]) -> None:
        for key, use in uses.items():
            newer = self.limit_uses.get(key)
            if newer is not None:
                newer.tokens += use.tokens
            elif len(self.limit_uses) < MAX_LIMIT_USES:
                self.limit_uses[key] = use
            else:
                LIMIT_USES_DROPPED.inc()

    def give_back_budget_events(self, events: list[BudgetEvent]) -> None:
        room = MAX_BUDGET_EVENTS - len(self.budget_events)
        self.budget_events[:0] = events[:room]

    def take_moved(self) -> tuple[set[str], set[tuple[str, str]]]:
        """What moved since the last call; hand it back with ``give_back`` if unsent."""
        moved = self.moved_routes, self.moved_targets
        self.moved_routes, self.moved_targets = set(), set()
        return moved

    def give_back(self, routes: set[str], targets: set[tuple[str, str]]) -> None:
        self.moved_routes |= routes
        self.moved_targets |= targets
