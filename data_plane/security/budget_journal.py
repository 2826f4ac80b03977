"""The budget charges this process settled in Redis that the control plane's ledger may not
hold yet, so that a Redis rebuilt from the ledger gets them back.

Redis holds the live budget counts; the ledger holds what telemetry reported, a report
interval behind. When Redis loses its counts (flushed, or replaced), the data plane that
finds it empty seeds it from the ledger under a new generation (a random id in the
cluster's marker hash), and writes beside it, per data-plane process, the last batch of
charges the ledger held. Every data plane learns of the generation from its scripts'
replies (or from its own look each second) and adds back what it charged under an
older generation in a later batch: the charges between a settlement and the ledger, which
a rebuild from the ledger alone would lose. Hand-written: it is this gateway's own
bookkeeping, between its Lua scripts and its telemetry batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from data_plane.metrics import BUDGET_JOURNAL_DROPPED
from data_plane.security.token_ledger import Scope

MAX_KEYS = 100_000  # budget counts kept, over every batch: past it, charges are not kept


@dataclass(frozen=True, slots=True)
class Ledger:
    """The control plane's budget counts and the last batch of charges they include, per
    data-plane process (by ``reporter_id``)."""

    counts: list[tuple[str, int, float]]  # (key, amount, expires at, Unix time)
    included: dict[str, int]


def reporter_id(node: str, started_at: float) -> str:
    """A data-plane process as the ledger names it (the same in every process)."""
    return f"{node}\x1f{started_at!r}"


Bucket = tuple[int, bytes]  # (batch, the Redis generation it was charged under)


class BudgetJournal:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._buckets: dict[Bucket, dict[str, tuple[Scope, int]]] = {}
        self._keys = 0
        self._max_keys = max_keys

    def __bool__(self) -> bool:
        return bool(self._buckets)

    def record(self, batch: int, generation: bytes, charges: Iterable[tuple[Scope, int]]) -> None:
        """What a settlement charged budgets, in telemetry batch ``batch``, in the Redis of
        ``generation``."""
        bucket = self._buckets.get((batch, generation), {})
        for scope, amount in charges:
            kept = bucket.get(scope.key)
            if kept is None:
                if self._keys >= self._max_keys:
                    BUDGET_JOURNAL_DROPPED.inc()
                    continue
                self._keys += 1
                kept = (scope, 0)
            bucket[scope.key] = (scope, kept[1] + amount)
        if bucket:
            self._buckets[(batch, generation)] = bucket

    def missing(self, generation: bytes, included: int) -> list[Bucket]:
        """What a Redis of ``generation``, seeded from a ledger that holds this process's
        batches up to ``included``, lacks: later batches charged under another generation."""
        return [b for b in self._buckets if b[0] > included and b[1] != generation]

    def totals(self, buckets: Sequence[Bucket]) -> list[tuple[Scope, int]]:
        summed: dict[str, tuple[Scope, int]] = {}
        for bucket in buckets:
            for key, (scope, amount) in self._buckets[bucket].items():
                summed[key] = (scope, summed.get(key, (scope, 0))[1] + amount)
        return list(summed.values())

    def move(self, buckets: Sequence[Bucket], generation: bytes) -> None:
        """``buckets`` are now counted in the Redis of ``generation``."""
        for batch, old in buckets:
            charges = self._buckets.pop((batch, old), None)
            if charges is not None:
                self._keys -= len(charges)
                self.record(batch, generation, charges.values())

    def prune(self, batch: int) -> None:
        """Batches up to ``batch`` are in the ledger, and any seed from now on includes them."""
        for bucket in [b for b in self._buckets if b[0] <= batch]:
            self._keys -= len(self._buckets.pop(bucket))
