"""What a token limit and a budget allow: the same terms whether an endpoint's policy or a
``settings.limits`` entry sets them, read once per snapshot from either message."""

from __future__ import annotations

from dataclasses import dataclass

from protos import snapshot_pb2 as pb


@dataclass(frozen=True, slots=True)
class TokenTerms:
    tokens: int = 0  # tokenLimit: tokens per ``period`` (0: none)
    period: float = 60.0
    budget_usd: float = 0.0  # budget: in dollars, or
    budget_tokens: int = 0  # in tokens (0 and 0.0: no budget)
    budget_per: str = "month"
    warn_at: float = 0.0  # the share spent that sends budget.warning (0: never)

    @property
    def limits(self) -> bool:
        return bool(self.tokens or self.budget_usd or self.budget_tokens)

    @classmethod
    def of(cls, message: pb.SecurityPolicy | pb.ScopedLimit) -> TokenTerms:
        rate = message.token_limit if message.HasField("token_limit") else None
        budget = message.budget if message.HasField("budget") else None
        return cls(
            tokens=rate.tokens if rate is not None else 0,
            period=(rate.period_seconds if rate is not None else 0.0) or 60.0,
            budget_usd=budget.usd if budget is not None else 0.0,
            budget_tokens=budget.tokens if budget is not None else 0,
            budget_per=(budget.per if budget is not None else "") or "month",
            warn_at=budget.warn_at if budget is not None else 0.0,
        )


NO_TERMS = TokenTerms()  # neither a token limit nor a budget
