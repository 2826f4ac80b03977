"""Each route's filter chain, composed once per snapshot: a route runs only what it needs.

A route under no security policy runs ``body -> balance -> upstream``; under
one policy, that policy's authentication and rate limit come first, bound to
the policy at compile time, and its token limit and budget follow ``ai``. A route that can see AI-shaped requests (any but an
exact route at a non-AI path) has a second chain, with ``ai`` after ``body``
(model, tokens, time to first token) and ``fallback`` before the balancer, which the handler takes for a request
whose path ends like an AI API: other requests do not pay for it. Only a route whose requests fall under several
policies (one sits on a path below the route's, or the route is a regex)
looks the policy up per request (``PolicyDispatch``), choosing between
chains also composed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_plane.ai.catalog import ModelCatalog
from data_plane.filters import Filter, Next, compose
from data_plane.filters.ai_traffic import AiTraffic
from data_plane.filters.authentication import ApiKeyAuthentication, JwtAuthentication
from data_plane.filters.balancing import Balancer
from data_plane.filters.body import BodyPolicy
from data_plane.filters.fallback import ModelFallback
from data_plane.filters.policy_dispatch import PolicyDispatch
from data_plane.filters.rate_limit import RateLimit
from data_plane.filters.token_limit import TokenLimit
from data_plane.filters.upstream import Upstream
from data_plane.runtime.routes import PathKind
from data_plane.security.policies import CompiledPolicy
from data_plane.security.rate_limit import RateLimiter
from data_plane.security.scoped_limits import ScopedLimits
from data_plane.security.snapshot_security import SnapshotSecurity
from data_plane.security.token_ledger import LocalTokenLedger, SettlingLedger
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

    def tail(self, ai: AiTraffic | None = None, fallbacks: bool = False) -> list[Filter]:
        body = self.body
        balancer = Balancer(self.budget, body)
        if ai is None:
            return [body, balancer]
        return [body, ai, ModelFallback(), balancer] if fallbacks else [body, ai, balancer]

    def upstream(self) -> Next:
        return Upstream(self.max_body_bytes)


class ChainBuilder:
    """Composes the chains of one snapshot's routes."""

    def __init__(
        self,
        security: SnapshotSecurity,
        limiter: RateLimiter,
        shared: ProcessFilters,
        catalog: ModelCatalog | None = None,
        ledger: SettlingLedger | None = None,
        limits: ScopedLimits | None = None,
    ) -> None:
        self.security = security
        self._limiter = limiter
        self._ledger = ledger or LocalTokenLedger()
        self._catalog = catalog or ModelCatalog()
        self._limits = limits or ScopedLimits()
        traffic = AiTraffic(self._catalog)
        # The tails: plain, AI, AI with fallbacks (only routes that list some pay for it).
        self._tails = (shared.tail(), shared.tail(traffic), shared.tail(traffic, fallbacks=True))
        self._upstream = shared.upstream()
        self._unsecured = tuple(
            compose(self._with_limits(tail, None, index), self._upstream)
            for index, tail in enumerate(self._tails)
        )
        self._by_policy: dict[tuple[str, int], Next] = {}

    def for_route(
        self, kind: PathKind, path: str, ai: bool = False, fallbacks: bool = False
    ) -> Next:
        """The route's chain; ``ai``: the one its AI-shaped requests take (with ``ai``, and
        ``fallback`` when the route lists fallbacks)."""
        tail = (1 + fallbacks) if ai else 0
        table = self.security.policies
        if not len(table):
            return self._unsecured[tail]
        if kind == "exact" or (kind == "prefix" and not table.any_below(path)):
            return self._for_policy(table.lookup(path), tail)
        chains = {p.endpoint: self._for_policy(p, tail) for p in table.policies()}
        return PolicyDispatch(table, chains, self._unsecured[tail])

    def _for_policy(self, policy: CompiledPolicy | None, tail_index: int) -> Next:
        if policy is None:
            return self._unsecured[tail_index]
        key = (policy.endpoint, tail_index)
        chain = self._by_policy.get(key)
        if chain is None:
            tail = self._with_limits(self._tails[tail_index], policy, tail_index)
            chain = self._by_policy[key] = compose([*self._security(policy), *tail], self._upstream)
        return chain

    def _with_limits(
        self, tail: list[Filter], policy: CompiledPolicy | None, tail_index: int
    ) -> list[Filter]:
        """An AI tail with the token limit after the AI filter (which reads max_tokens), when
        the policy or settings.limits set any."""
        if not tail_index or not (self._limits or (policy is not None and policy.limits_tokens)):
            return tail
        limit = TokenLimit(
            self._ledger, self.security.cluster, policy, self._limits, self._catalog.prices
        )
        return [*tail[:2], limit, *tail[2:]]

    def _security(self, policy: CompiledPolicy) -> list[Filter]:
        security = self.security
        filters: list[Filter] = []
        if policy.auth == "api-key":
            filters.append(ApiKeyAuthentication(security.keys))
        elif policy.auth == "jwt":
            filters.append(JwtAuthentication(security.verifiers_of(policy)))
        if policy.requests:
            filters.append(
                RateLimit(
                    self._limiter,
                    security.cluster,
                    policy.endpoint,
                    policy.requests,
                    policy.period,
                )
            )
        return filters
