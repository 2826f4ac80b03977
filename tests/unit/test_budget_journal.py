"""What a data plane adds back to a Redis rebuilt from the ledger."""

from __future__ import annotations

from data_plane.metrics import BUDGET_JOURNAL_DROPPED
from data_plane.security.budget_journal import BudgetJournal
from data_plane.security.token_ledger import Scope


def budget(key: str) -> Scope:
    return Scope(key, "budget", 1000, 86_400.0)


def test_a_seed_lacks_the_later_batches_of_older_generations() -> None:
    journal = BudgetJournal()
    a, b = budget("a"), budget("b")
    journal.record(1, b"g1", [(a, 10)])
    journal.record(2, b"g1", [(a, 5), (b, 7)])
    journal.record(2, b"g1", [(a, 1)])
    journal.record(3, b"g2", [(b, 4)])  # settled in the new Redis already
    missing = journal.missing(b"g2", included=1)  # the ledger held batch 1
    assert missing == [(2, b"g1")]
    assert sorted((s.key, n) for s, n in journal.totals(missing)) == [("a", 6), ("b", 7)]
    journal.move(missing, b"g2")
    assert journal.missing(b"g2", included=1) == []
    assert journal.missing(b"g3", included=2) == [(3, b"g2")]  # a later flush, batch 2 held


def test_pruned_batches_are_gone_and_a_full_journal_counts_what_it_drops() -> None:
    journal = BudgetJournal(max_keys=2)
    journal.record(1, b"g", [(budget("a"), 1), (budget("b"), 1)])
    before = BUDGET_JOURNAL_DROPPED._value.get()
    journal.record(2, b"g", [(budget("c"), 1)])
    assert BUDGET_JOURNAL_DROPPED._value.get() == before + 1
    journal.prune(1)
    assert not journal
    journal.record(2, b"g", [(budget("c"), 1)])  # room again
    assert journal.missing(b"h", included=0) == [(2, b"g")]
