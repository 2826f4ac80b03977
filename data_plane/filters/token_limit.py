"""How many tokens: an endpoint's token limit and budget, per consumer (per client address
when anonymous), reserved before the backend is called and reconciled when the answer ends.

Composed into the AI chain of a route under a policy with ``tokenLimit`` or
``budget``, after the AI filter (which read the request's model and
``max_tokens``). The reservation is the prompt's estimated tokens (its
bytes / 4) plus the request's ``max_tokens`` / ``max_completion_tokens`` /
``max_output_tokens``, or the policy's ``defaultMaxTokens`` (1024) when it
sets none; a dollar budget reserves that priced by the model asked for. When
the request is over (answered, failed or abandoned) the handler calls
``exchange.settle``: what the answer used (as the usage meter counted it, an
estimate for a cut stream) replaces the reservation, and a request that
reached no backend, or got an error from it, is refunded in full.

Refusals are 429 in OpenAI's shape: ``rate_limit_exceeded`` for the limit,
``insufficient_quota`` for the budget, with ``Retry-After``. Every answer of
the route carries OpenAI's ``x-ratelimit-*-tokens`` headers for the limit.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from data_plane.ai.prices import PriceTable
from data_plane.ai.usage import Usage, estimate_tokens
from data_plane.filters import Next
from data_plane.metrics import TOKEN_LIMITED
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.security.policies import CompiledPolicy
from data_plane.security.rate_limit import format_reset
from data_plane.security.token_ledger import (
    USD_UNIT,
    Admission,
    Scope,
    SettlingLedger,
    budget_period,
)


class TokenLimit:
    def __init__(
        self, ledger: SettlingLedger, cluster: str, policy: CompiledPolicy, prices: PriceTable
    ) -> None:
        self._ledger = ledger
        # No part holds the separator: names and endpoints are checked, claims are header-safe.
        self._prefix = f"{cluster}\x1f{policy.endpoint}\x1f"
        self._policy = policy
        self._prices = prices
        self._refused = {
            "rate": TOKEN_LIMITED.labels(policy.endpoint, "rate"),
            "budget": TOKEN_LIMITED.labels(policy.endpoint, "budget"),
        }

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        ai = exchange.ai
        if ai is None:  # not an AI request: its tokens are not known
            return await next(exchange)
        policy = self._policy
        who = f"consumer:{exchange.consumer}" if exchange.consumer else f"ip:{exchange.client_ip}"
        prompt = estimate_tokens(len(ai.body)) if ai.body else 0
        tokens = prompt + (ai.max_output or policy.default_max_tokens)
        scopes: list[Scope] = []
        amounts: list[int] = []
        if policy.tokens:
            if tokens > policy.tokens:
                return self._too_large(exchange, tokens)
            key = f"{self._prefix}{who}\x1frate"
            scopes.append(Scope(key, "rate", policy.tokens, policy.token_period))
            amounts.append(tokens)
        if policy.budget_usd or policy.budget_tokens:
            period, left = budget_period(policy.budget_per, time.time())
            key = f"{self._prefix}{who}\x1fbudget\x1f{period}"
            if policy.budget_usd:
                limit = int(policy.budget_usd * USD_UNIT)
                cost = self._prices.cost(Usage(prompt, tokens - prompt), ai.model) or 0.0
                scopes.append(Scope(key, "budget", limit, left, usd=True))
                amounts.append(math.ceil(cost * USD_UNIT))
            else:
                scopes.append(Scope(key, "budget", policy.budget_tokens, left))
                amounts.append(tokens)
        admission = await self._ledger.reserve(scopes, amounts)
        if not admission.allowed:
            return self._refuse(exchange, scopes[admission.refused], admission)
        exchange.settle = _Settlement(self._ledger, scopes, amounts, admission)
        response = await next(exchange)
        headers = response.headers
        for scope, state in zip(scopes, admission.states, strict=True):
            if scope.kind == "rate":
                headers["x-ratelimit-limit-tokens"] = str(scope.limit)
                headers["x-ratelimit-remaining-tokens"] = str(state.remaining)
                headers["x-ratelimit-reset-tokens"] = format_reset(state.reset_seconds)
        return response

    def _refuse(self, exchange: Exchange, scope: Scope, admission: Admission) -> web.Response:
        self._refused[scope.kind].inc()
        retry = str(max(1, math.ceil(admission.retry_after)))
        endpoint = self._policy.endpoint
        if scope.kind == "rate":
            return refuse(
                exchange,
                429,
                "rate_limit_exceeded",
                f"token limit of {scope.limit} per {scope.period:g}s reached on {endpoint}; "
                f"retry after {retry}s",
                {
                    "Retry-After": retry,
                    "x-ratelimit-limit-tokens": str(scope.limit),
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": format_reset(admission.retry_after),
                },
            )
        spent = (
            f"${scope.limit / USD_UNIT:g}" if scope.usd else f"{scope.limit} tokens"
        ) + f" per {self._policy.budget_per}"
        return refuse(
            exchange,
            429,
            "insufficient_quota",
            f"the budget of {spent} on {endpoint} is spent; it renews in {retry}s",
            {"Retry-After": retry},
        )

    def _too_large(self, exchange: Exchange, tokens: int) -> web.Response:
        self._refused["rate"].inc()
        return refuse(
            exchange,
            429,
            "rate_limit_exceeded",
            f"this request reserves {tokens} tokens (its prompt and max_tokens), more than the "
            f"token limit of {self._policy.tokens} on {self._policy.endpoint} allows at once; "
            "lower max_tokens or shorten the prompt",
            {"x-ratelimit-limit-tokens": str(self._policy.tokens)},
        )


class _Settlement:
    """Called once by the handler when the request is over: the answer's usage replaces the
    reservation (nothing used, as for an error or no answer, refunds it all)."""

    __slots__ = ("_admission", "_amounts", "_ledger", "_scopes")

    def __init__(
        self, ledger: SettlingLedger, scopes: list[Scope], amounts: list[int], admission: Admission
    ) -> None:
        self._ledger = ledger
        self._scopes = scopes
        self._amounts = amounts
        self._admission = admission

    def __call__(self, exchange: Exchange) -> None:
        usage = exchange.usage
        ok = usage is not None and exchange.status < 400
        used = usage.input + usage.output if ok and usage is not None else 0
        cost = exchange.cost_usd if ok and exchange.cost_usd else 0.0
        deltas = [
            (math.ceil(cost * USD_UNIT) if scope.usd else used) - amount
            for scope, amount in zip(self._scopes, self._amounts, strict=True)
        ]
        if any(deltas):
            self._ledger.settle_soon(self._scopes, deltas, self._admission)
