"""Token limits and budgets beyond an endpoint's own (``settings.limits``): per team, per
consumer or for everyone, on a model or any, under an endpoint. Compiled once per snapshot;
the token-limit filter asks which apply to a request."""

from __future__ import annotations

from dataclasses import dataclass

from data_plane.ai.model_match import ModelMatcher
from data_plane.security.token_terms import NO_TERMS, TokenTerms
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
    terms: TokenTerms = NO_TERMS

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
                    terms=TokenTerms.of(limit),
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
