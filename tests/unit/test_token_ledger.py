"""The local token ledger: all or nothing over scopes, refunds, budgets per calendar period."""

from __future__ import annotations

import calendar

from data_plane.security.rate_limit import format_reset
from data_plane.security.token_ledger import LocalTokenLedger, Scope, budget_period


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_request_is_charged_to_every_scope_or_to_none() -> None:
    clock = Clock()
    ledger = LocalTokenLedger(clock=clock, wall=clock)
    rate = Scope("rate", "rate", 1000, 60.0)
    budget = Scope("budget", "budget", 150, 3600.0)
    assert ledger.take([rate, budget], [100, 100]).allowed
    refused = ledger.take([rate, budget], [100, 100])  # the budget has 50 left
    assert not refused.allowed and refused.refused == 1 and refused.retry_after == 3600.0
    # The refusal charged the rate nothing: 900 are left of it, not 800.
    assert ledger.take([rate], [900]).allowed
    assert not ledger.take([rate], [1]).allowed


def test_a_settlement_refunds_and_charges() -> None:
    clock = Clock()
    ledger = LocalTokenLedger(clock=clock, wall=clock)
    rate = Scope("rate", "rate", 1000, 60.0)
    first = ledger.take([rate], [600])
    assert first.states[0].remaining == 400
    ledger.adjust([rate], [-580])  # it used 20
    assert ledger.take([rate], [900]).states[0].remaining == 80
    ledger.adjust([rate], [200])  # it used 200 more than it reserved
    refused = ledger.take([rate], [100])
    assert not refused.allowed and round(refused.retry_after, 6) == round(220 * 60 / 1000, 6)


def test_a_rate_refills_and_a_budget_renews_with_its_period() -> None:
    clock = Clock()
    ledger = LocalTokenLedger(clock=clock, wall=clock)
    rate = Scope("rate", "rate", 600, 60.0)  # 10 a second
    assert ledger.take([rate], [600]).allowed and not ledger.take([rate], [10]).allowed
    clock.now += 1.0
    assert ledger.take([rate], [10]).allowed
    budget = Scope("day-1", "budget", 10, 5.0)
    assert ledger.take([budget], [10]).allowed and not ledger.take([budget], [1]).allowed
    clock.now += 5.0  # the period ended: its count expired
    assert ledger.take([budget], [10]).allowed


def test_budget_periods_are_utc_calendar_periods() -> None:
    noon = calendar.timegm((2026, 12, 31, 12, 0, 0))  # a Thursday
    assert budget_period("day", noon) == ("2026-12-31", 12 * 3600)
    assert budget_period("month", noon) == ("2026-12", 12 * 3600)
    week, left = budget_period("week", noon)
    assert week == "2026-W53" and left == (3 * 24 + 12) * 3600  # until Monday 00:00


def test_resets_read_like_openai_s() -> None:
    assert [format_reset(s) for s in (0.02, 1, 6.2, 90, 3600)] == [
        "20ms", "1s", "7s", "1m30s", "1h0m0s"
    ]  # fmt: skip


def test_a_policy_s_limits_survive_the_grpc_form() -> None:
    from control_plane.domain.security import SecuritySpec
    from control_plane.proto_mapping import security_from_proto, security_to_proto

    for written in (
        {"endpoint": "/v1", "tokenLimit": "100000/min", "budget": {"usd": 50, "per": "month"},
         "defaultMaxTokens": 512, "onExceeded": "cut"},
        {"endpoint": "/v1", "budget": {"tokens": 10**6, "per": "week"}},
    ):  # fmt: skip
        spec = SecuritySpec.model_validate(written)
        assert SecuritySpec.model_validate(security_from_proto(security_to_proto(spec))) == spec


def test_the_local_ledger_stays_within_its_bound() -> None:
    clock = Clock()
    ledger = LocalTokenLedger(clock=clock, wall=clock, max_keys=10)
    for caller in range(25):  # a flood of anonymous callers, each with a month's budget
        assert ledger.take([Scope(f"ip:{caller}", "budget", 100, 30 * 86_400.0)], [10]).allowed
    clock.now += 1.5  # the next sweep
    ledger.take([Scope("ip:last", "rate", 100, 60.0)], [1])
    assert len(ledger._tats) + len(ledger._spent) <= 11  # the bound, and the one just taken


def test_an_extra_charge_on_a_full_rate_counts_from_now() -> None:
    clock = Clock()
    ledger = LocalTokenLedger(clock=clock, wall=clock)
    rate = Scope("rate", "rate", 600, 60.0)  # 10 a second
    ledger.take([rate], [10])
    clock.now += 10.0  # full again
    ledger.adjust([rate], [600])  # a long stream used 600 more than it reserved
    assert not ledger.take([rate], [1]).allowed  # as spent as if it had just been charged
