"""Token limits and budgets beyond an endpoint's own (``settings.limits``): per team, per
consumer or for everyone, on a model or any, under an endpoint. Compiled once per snapshot;
the token-limit filter asks which apply to a request."""

from __future__ import annotations

from dataclasses import dataclass

from data_plane.ai.model_match import ModelMatcher
from protos import snapshot_pb2 as pb


@dataclass(frozen=True, slots=True)
class ScopedLimit:
    name: str
    team: str | None
    members: frozenset[str]  # the team's consumers
    consumer: str | None  # one consumer, "*" (each its own) or None (everyone, or the team)
    key: str | None  # one API key's id, "*" (each its own) or None
    models: ModelMatcher | None
    endpoint: str
    tokens: int = 0  # per period (0: no token limit)
    period: float = 60.0
    budget_usd: float = 0.0
    budget_tokens: int = 0
    budget_per: str = "month"
    budget_warn_at: float = 0.0

    def applies(
        self, path: str, consumer: str | None, key_id: str | None, model: str | None
    ) -> bool:
        if not _covers(self.endpoint, path):
            return False
        if self.team is not None and consumer not in self.members:
            return False
        if self.consumer not in (None, "*") and consumer != self.consumer:
            return False
        if self.key is not None and (key_id is None or self.key not in ("*", key_id)):
            return False
        return self.models is None or (model is not None and self.models.matches(model))

    def who(self, caller: str, key_id: str | None) -> str:
        """Whose count a request charges: the team's, its key's, its caller's (for "*" or a
        named consumer) or everyone's."""
        if self.team is not None:
            return f"team:{self.team}"
        if self.key is not None:
            return f"key:{key_id}"
        return caller if self.consumer is not None else "all"

    @property
    def label(self) -> str:
        whose = (
            f"team {self.team}"
            if self.team
            else "each consumer"
            if self.consumer == "*"
            else f"consumer {self.consumer}"
            if self.consumer
            else "each API key"
            if self.key == "*"
            else f"API key {self.key}"
            if self.key
            else "everyone"
        )
        return f"limit {self.name} ({whose})"


class ScopedLimits:
    def __init__(self, limits: tuple[ScopedLimit, ...] = ()) -> None:
        self._limits = limits

    def __bool__(self) -> bool:
        return bool(self._limits)

    @classmethod
    def compile(cls, snapshot: pb.Snapshot) -> ScopedLimits:
        teams = {name: frozenset(members.consumers) for name, members in snapshot.teams.items()}
        compiled = []
        for limit in snapshot.limits:
            compiled.append(
                ScopedLimit(
                    name=limit.name,
                    team=limit.team or None,
                    members=teams.get(limit.team, frozenset()),
                    consumer=limit.consumer or None,
                    key=limit.key or None,
                    models=ModelMatcher((limit.model,)) if limit.model else None,
                    endpoint=limit.endpoint.rstrip("/") or "/",
                    tokens=limit.token_limit.tokens if limit.HasField("token_limit") else 0,
                    period=limit.token_limit.period_seconds or 60.0,
                    budget_usd=limit.budget.usd if limit.HasField("budget") else 0.0,
                    budget_tokens=limit.budget.tokens if limit.HasField("budget") else 0,
                    budget_per=limit.budget.per or "month",
                    budget_warn_at=limit.budget.warn_at if limit.HasField("budget") else 0.0,
                )
            )
        return cls(tuple(compiled))

    def applying(
        self, path: str, consumer: str | None, key_id: str | None, model: str | None
    ) -> list[ScopedLimit]:
        return [s for s in self._limits if s.applies(path, consumer, key_id, model)]


def _covers(endpoint: str, path: str) -> bool:
    """Whether ``endpoint`` is ``path`` or a segment-prefix of it (as security policies are)."""
    return endpoint == "/" or path == endpoint or path.startswith(endpoint + "/")
