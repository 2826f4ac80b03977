"""Token limits and budgets: reserve at admission, reconcile when the answer ends.

A request reserves an estimate in every scope it falls under (its consumer's
token rate, its consumer's budget), all or nothing: either every scope has
room and all are charged, or none is and the request is refused. When the
answer ends, the difference between what it used and what it reserved is
charged or refunded in the same scopes (``settle``).

Two kinds of scope:

- a **rate** (``tokenLimit: 100000/min``): a weighted GCRA, the request rate
  limit's algorithm with a cost per request. A limit of N per period allows a
  burst of N tokens and refills continuously; a refund moves the theoretical
  arrival time back, an extra charge moves it on.
- a **budget** (``budget: {usd: 50, per: month}``): a counter per calendar
  period (UTC), in tokens or in micro-dollars, that expires with its period.

``LocalTokenLedger`` counts in this process; ``RedisTokenLedger``
(``data_plane.security.redis_token_ledger``) counts for every replica with
one Lua script per admission and one per settlement. Written by hand: the
reservation across several scopes at once, all or nothing, is this product's
own; no limiter library does it.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from data_plane.metrics import LEDGER_KEYS_DROPPED

ScopeKind = Literal["rate", "budget"]
USD_UNIT = 1_000_000  # budgets in dollars count micro-dollars
SWEEP_SECONDS = 1.0  # how often the local ledger drops what expired


@dataclass(frozen=True, slots=True)
class Scope:
    """One count a request is charged to. ``key`` names it across replicas (cluster,
    endpoint, caller, kind and, for a budget, its period)."""

    key: str
    kind: ScopeKind
    limit: int  # tokens per period (rate) or the budget (tokens or micro-dollars)
    period: float  # rate: its period in seconds; budget: seconds until the period ends
    usd: bool = False  # a budget in dollars (its amounts are micro-dollars)
    label: str = ""  # what a refusal calls it: "on /v1/chat/completions", "limit x (team y)"
    per: str = ""  # a budget's kind of period: day, week or month
    period_id: str = ""  # a budget's period: 2026-12, 2026-W49, 2026-12-01
    caller: str = ""  # whose count: consumer:NAME, ip:ADDRESS, team:NAME, key:ID, all
    warn_at: float = 0.0  # the share spent that sends budget.warning (0: never)


@dataclass(frozen=True, slots=True)
class ScopeState:
    """What a scope has left after an admission (for the x-ratelimit-* headers)."""

    remaining: int
    reset_seconds: float  # rate: until it is full again; budget: until its period ends


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    states: tuple[ScopeState, ...]  # per scope, in order (allowed only)
    refused: int = -1  # the index of the scope without room
    retry_after: float = 0.0
    store: str = "local"  # where it was reserved (a settlement goes there); "unavailable":
    # nowhere, Redis failed and the limits fail closed
    generation: bytes = b""  # of the Redis it was reserved in (redis_token_ledger)


class SettlingLedger(Protocol):
    """Where the counts live: this process (LocalTokenLedger) or Redis (RedisTokenLedger)."""

    async def reserve(self, scopes: Sequence[Scope], amounts: Sequence[int]) -> Admission:
        """Charge ``amounts[i]`` to ``scopes[i]`` for every i, or to none of them."""

    def settle_soon(
        self,
        scopes: Sequence[Scope],
        held: Sequence[int],
        used: Sequence[int],
        admission: Admission,
        final: bool = True,
    ) -> None:
        """Replace what each scope holds for a request (``held``: its reservation and what
        it charged since) with what it used: a charge or a refund, now or in the
        background; never blocks the caller. ``final``: the request's own settlement, whose
        budget charges also go to the control plane's ledger (False: a correction on the
        way, such as a reservation given back)."""


def budget_period(per: str, now: float) -> tuple[str, float]:
    """The calendar period ``now`` (Unix seconds) is in, as a key part, and the seconds until it
    ends. UTC; weeks start on Monday (ISO weeks)."""
    moment = time.gmtime(now)
    day_start = calendar.timegm((moment.tm_year, moment.tm_mon, moment.tm_mday, 0, 0, 0))
    if per == "day":
        return time.strftime("%Y-%m-%d", moment), day_start + 86_400 - now
    if per == "week":
        start = day_start - moment.tm_wday * 86_400
        year, week, _ = datetime.datetime.fromtimestamp(now, datetime.UTC).isocalendar()
        return f"{year:04d}-W{week:02d}", start + 7 * 86_400 - now
    year, month = moment.tm_year, moment.tm_mon
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    end = calendar.timegm((*following, 1, 0, 0, 0))
    return f"{year:04d}-{month:02d}", end - now


def rate_step(tat: float, now: float, limit: int, period: float, amount: int) -> float | None:
    """One weighted GCRA step: the new theoretical arrival time, or None when ``amount`` does
    not fit now."""
    new_tat = max(tat, now) + amount * period / limit
    if new_tat - now > period + 1e-9:
        return None
    return new_tat


def rate_state(tat: float, now: float, limit: int, period: float) -> ScopeState:
    used = max(0.0, tat - now)
    remaining = int((period - used) * limit / period + 1e-9)
    return ScopeState(max(0, remaining), used)


class LocalTokenLedger:
    """The counts of this process (no Redis): exact for one process, per process otherwise."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_keys: int = 1_000_000,
    ) -> None:
        self._tats: dict[str, float] = {}
        self._spent: dict[str, tuple[int, float]] = {}  # key: (spent, expires at, wall clock)
        self._clock = clock
        self._wall = wall
        self._max_keys = max_keys
        self._next_sweep = 0.0

    async def reserve(self, scopes: Sequence[Scope], amounts: Sequence[int]) -> Admission:
        return self.take(scopes, amounts)

    def settle_soon(
        self,
        scopes: Sequence[Scope],
        held: Sequence[int],
        used: Sequence[int],
        admission: Admission,
        final: bool = True,
    ) -> None:
        deltas = [after - before for before, after in zip(held, used, strict=True)]
        if any(deltas):
            self.adjust(scopes, deltas)

    def take(self, scopes: Sequence[Scope], amounts: Sequence[int]) -> Admission:
        now, wall = self._clock(), self._wall()
        new_tats: list[float] = []
        for index, (scope, amount) in enumerate(zip(scopes, amounts, strict=True)):
            if scope.kind == "rate":
                tat = self._tats.get(scope.key, now)
                new_tat = rate_step(tat, now, scope.limit, scope.period, amount)
                if new_tat is None:
                    needed = max(tat, now) + amount * scope.period / scope.limit - now
                    return Admission(False, (), index, _retry(needed - scope.period, amount, scope))
                new_tats.append(new_tat)
            else:
                spent = self._spent_in(scope.key, wall)
                if spent + amount > scope.limit:
                    return Admission(False, (), index, scope.period)
                new_tats.append(0.0)
        states: list[ScopeState] = []
        for scope, amount, new_tat in zip(scopes, amounts, new_tats, strict=True):
            if scope.kind == "rate":
                self._tats[scope.key] = new_tat
                states.append(rate_state(new_tat, now, scope.limit, scope.period))
            else:
                spent = self._spent_in(scope.key, wall) + amount
                self._spent[scope.key] = (spent, wall + scope.period)
                states.append(ScopeState(max(0, scope.limit - spent), scope.period))
        if now >= self._next_sweep:
            self._sweep(now, wall)
        return Admission(True, tuple(states))

    def adjust(self, scopes: Sequence[Scope], deltas: Sequence[int]) -> None:
        now, wall = self._clock(), self._wall()
        for scope, delta in zip(scopes, deltas, strict=True):
            if not delta:
                continue
            if scope.kind == "rate":  # as the Redis script: from now when the count is full
                tat = max(self._tats.get(scope.key, now), now) + delta * scope.period / scope.limit
                self._tats[scope.key] = max(tat, now)
            else:
                spent = max(0, self._spent_in(scope.key, wall) + delta)
                self._spent[scope.key] = (spent, wall + scope.period)

    def seed(self, counts: Sequence[tuple[str, int, float]]) -> None:
        """Budget counts from the control plane's ledger (key, amount, when its period ends,
        Unix): each becomes the larger of this process's and the ledger's."""
        wall = self._wall()
        for key, amount, ends in counts:
            if ends > wall and amount > self._spent_in(key, wall):
                self._spent[key] = (amount, ends)

    def _spent_in(self, key: str, wall: float) -> int:
        entry = self._spent.get(key)
        return entry[0] if entry is not None and entry[1] > wall else 0

    def _sweep(self, now: float, wall: float) -> None:
        """Drop what has expired, every SWEEP_SECONDS (a full pass: never per request). Past
        ``max_keys`` live keys, the oldest budgets go first, then the oldest rates: a flood
        of callers (addresses, say) may forget counts, but cannot take the memory."""
        self._tats = {k: t for k, t in self._tats.items() if t > now}
        self._spent = {k: e for k, e in self._spent.items() if e[1] > wall}
        excess = len(self._tats) + len(self._spent) - self._max_keys
        if excess > 0:
            LEDGER_KEYS_DROPPED.inc(excess)
            for table in (self._spent, self._tats):
                doomed = list(itertools.islice(table, min(excess, len(table))))
                for key in doomed:
                    del table[key]
                excess -= len(doomed)
        self._next_sweep = now + SWEEP_SECONDS


def _retry(excess: float, amount: int, scope: Scope) -> float:
    """Seconds until ``amount`` fits; a request larger than the whole limit never does, and is
    told to wait a whole period (its client should ask for fewer tokens)."""
    if amount > scope.limit:
        return scope.period
    return max(0.0, excess)
