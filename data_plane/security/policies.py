"""Security policies by endpoint: the longest endpoint that is a segment-prefix of the path applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from data_plane.security.token_terms import NO_TERMS, TokenTerms
from protos import snapshot_pb2 as pb

AuthKind = Literal["none", "jwt", "api-key"]
_AUTH: dict[int, AuthKind] = {
    pb.SecurityPolicy.NONE: "none",
    pb.SecurityPolicy.JWT: "jwt",
    pb.SecurityPolicy.API_KEY: "api-key",
}


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    endpoint: str
    auth: AuthKind
    requests: int  # 0: no rate limit
    period: float
    jwt_providers: tuple[str, ...]
    terms: TokenTerms = NO_TERMS  # tokenLimit and budget
    default_max_tokens: int = 1024
    cut_when_exceeded: bool = False  # onExceeded: cut

    @property
    def limits_tokens(self) -> bool:
        return self.terms.limits


class PolicyTable:
    def __init__(self, policies: list[pb.SecurityPolicy]) -> None:
        self._by_endpoint: dict[str, CompiledPolicy] = {}
        for policy in policies:
            endpoint = policy.endpoint.rstrip("/") or "/"
            self._by_endpoint[endpoint] = CompiledPolicy(
                endpoint=endpoint,
                auth=_AUTH.get(policy.auth, "none"),
                requests=policy.rate_limit.requests if policy.HasField("rate_limit") else 0,
                period=policy.rate_limit.period_seconds or 60.0,
                jwt_providers=tuple(policy.jwt_providers),
                terms=TokenTerms.of(policy),
                default_max_tokens=policy.default_max_tokens or 1024,
                cut_when_exceeded=policy.cut_when_exceeded,
            )

    def __len__(self) -> int:
        return len(self._by_endpoint)

    def policies(self) -> list[CompiledPolicy]:
        return list(self._by_endpoint.values())

    def any_below(self, path: str) -> bool:
        """Whether a policy sits on a path strictly below ``path`` (by segment)."""
        base = path.rstrip("/")
        return any(e.startswith(base + "/") and e != base for e in self._by_endpoint if e != "/")

    def lookup(self, path: str) -> CompiledPolicy | None:
        """The policy of ``path``, which is already normalised (so no spelling gets around it)."""
        if not self._by_endpoint:
            return None
        key = path.rstrip("/") or "/"
        while True:
            policy = self._by_endpoint.get(key)
            if policy is not None:
                return policy
            if key == "/":
                return None
            key = key[: key.rfind("/")] or "/"
