"""Each route's filter chain, composed once per snapshot: a route runs only what it needs.

A route under no security policy runs ``body -> balance -> upstream``; under
one policy, that policy's authentication and rate limit come first, bound to
the policy at compile time. Only a route whose requests fall under several
policies (one sits on a path below the route's, or the route is a regex)
looks the policy up per request (``PolicyDispatch``), choosing between
chains also composed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_plane.filters import Filter, Next, compose
from data_plane.filters.authentication import ApiKeyAuthentication, JwtAuthentication
from data_plane.filters.balancing import Balancer
from data_plane.filters.body import BodyPolicy
from data_plane.filters.policy_dispatch import PolicyDispatch
from data_plane.filters.rate_limit import RateLimit
from data_plane.filters.upstream import Upstream
from data_plane.runtime.routes import PathKind
from data_plane.security.api_keys import KeyIndex
from data_plane.security.jwt_auth import JwtVerifier
from data_plane.security.policies import CompiledPolicy, PolicyTable
from data_plane.security.rate_limit import RateLimiter
from data_plane.upstream.retry_budget import RetryBudget

DEFAULT_MAX_BODY_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class ProcessFilters:
    """The filters every route shares, made once per process (they hold no route's config:
    a request's route is on its exchange)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    budget: RetryBudget = field(default_factory=RetryBudget)

    @property
    def body(self) -> BodyPolicy:
        return BodyPolicy(self.max_body_bytes)

    def tail(self) -> list[Filter]:
        body = self.body
        return [body, Balancer(self.budget, body)]

    def upstream(self) -> Next:
        return Upstream(self.max_body_bytes)


class ChainBuilder:
    """Composes the chains of one snapshot's routes."""

    def __init__(
        self,
        cluster: str,
        policies: PolicyTable,
        keys: KeyIndex,
        verifiers: dict[str, JwtVerifier],
        limiter: RateLimiter,
        shared: ProcessFilters,
    ) -> None:
        self._cluster = cluster
        self._policies = policies
        self._keys = keys
        self._verifiers = verifiers
        self._limiter = limiter
        self._tail = shared.tail()
        self._upstream = shared.upstream()
        self._unsecured = compose(self._tail, self._upstream)
        self._by_policy: dict[str, Next] = {}

    def for_route(self, kind: PathKind, path: str) -> Next:
        table = self._policies
        if not len(table):
            return self._unsecured
        if kind == "exact" or (kind == "prefix" and not table.any_below(path)):
            return self._for_policy(table.lookup(path))
        chains = {p.endpoint: self._for_policy(p) for p in table.policies()}
        return PolicyDispatch(table, chains, self._unsecured)

    def _for_policy(self, policy: CompiledPolicy | None) -> Next:
        if policy is None:
            return self._unsecured
        chain = self._by_policy.get(policy.endpoint)
        if chain is None:
            chain = self._by_policy[policy.endpoint] = compose(
                [*self._security(policy), *self._tail], self._upstream
            )
        return chain

    def _security(self, policy: CompiledPolicy) -> list[Filter]:
        filters: list[Filter] = []
        if policy.auth == "api-key":
            filters.append(ApiKeyAuthentication(self._keys))
        elif policy.auth == "jwt":
            names = policy.jwt_providers or tuple(self._verifiers)
            filters.append(
                JwtAuthentication(tuple(self._verifiers[n] for n in names if n in self._verifiers))
            )
        if policy.requests:
            filters.append(
                RateLimit(
                    self._limiter, self._cluster, policy.endpoint, policy.requests, policy.period
                )
            )
        return filters
