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

import asyncio
import functools
import math
import time
from typing import TYPE_CHECKING

from aiohttp import web

from data_plane.ai.model_request import MODEL_HEADER
from data_plane.ai.prices import PriceTable
from data_plane.ai.usage import Usage, estimate_tokens
from data_plane.filters import Next
from data_plane.metrics import TALLY, TOKEN_LIMITED
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.security.policies import CompiledPolicy
from data_plane.security.rate_limit import format_reset
from data_plane.security.scoped_limits import ScopedLimits
from data_plane.security.token_ledger import (
    USD_UNIT,
    Admission,
    Scope,
    SettlingLedger,
    budget_period,
)
from data_plane.security.token_terms import TokenTerms
from protos.telemetry_pb2 import BudgetCharge, BudgetEvent, LimitUse

if TYPE_CHECKING:
    from multidict import CIMultiDict

    from data_plane.ai.usage_meter import UsageMeter


class TokenLimit:
    """``policy``: the endpoint's own limit and budget (None: an endpoint without a policy);
    ``limits``: the snapshot's ``settings.limits``, looked up per request (they depend on the
    consumer and the model)."""

    def __init__(
        self,
        ledger: SettlingLedger,
        cluster: str,
        policy: CompiledPolicy | None,
        limits: ScopedLimits,
        prices: PriceTable,
    ) -> None:
        self._ledger = ledger
        self._cluster = cluster
        endpoint = policy.endpoint if policy is not None else ""
        # No part holds the separator: names and endpoints are checked, claims are header-safe.
        self._prefix = f"{cluster}\x1f{endpoint}\x1f"
        self._policy = policy
        self._limits = limits
        self._default_max = policy.default_max_tokens if policy is not None else 1024
        self.prices = prices
        self.cuts = policy.cut_when_exceeded if policy is not None else False
        label = endpoint or "limits"
        self._refused = {
            "rate": TOKEN_LIMITED.labels(label, "rate"),
            "budget": TOKEN_LIMITED.labels(label, "budget"),
        }

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        ai = exchange.ai
        if ai is None:  # not an AI request: its tokens are not known
            return await next(exchange)
        body = exchange.body
        if ai.body is None and body is not None and exchange.request.body_exists:
            # Streamed (chunked, or over the 1 MiB read first): its size and model are
            # unknown here, so the limits that depend on them could not hold.
            if body.length is None:
                return refuse(exchange, 411, "length_required",
                              "this endpoint limits tokens: send the request body with a "
                              "Content-Length")  # fmt: skip
            if ai.model is None:
                return refuse(exchange, 400, "invalid_request",
                              f"this endpoint limits tokens: a body over 1 MiB names its model "
                              f"in the {MODEL_HEADER} header")  # fmt: skip
        who = f"consumer:{exchange.consumer}" if exchange.consumer else f"ip:{exchange.client_ip}"
        prompt = estimate_tokens(ai.size)
        tokens = prompt + (ai.max_output or self._default_max)
        cost = self.prices.cost(Usage(prompt, tokens - prompt), ai.model) or 0.0
        scopes: list[Scope] = []
        policy = self._policy
        if policy is not None:
            where = f"on {policy.endpoint}"
            base = f"{self._prefix}{who}\x1f"
            _add(scopes, base, where, who, policy.terms)
        if self._limits:
            key_id = exchange.key_id
            for limit in self._limits.applying(exchange.path, exchange.consumer, key_id, ai.model):
                whose = limit.who(who, key_id)
                base = f"{self._cluster}\x1flimit\x1f{limit.name}\x1f{whose}\x1f"
                _add(scopes, base, limit.label, whose, limit.terms)
        if not scopes:
            return await next(exchange)
        for scope in scopes:
            if scope.kind == "rate" and tokens > scope.limit:
                return self._too_large(exchange, tokens, scope)
        amounts = [math.ceil(cost * USD_UNIT) if s.usd else tokens for s in scopes]
        admission = await self._ledger.reserve(scopes, amounts)
        if not admission.allowed:
            if admission.store == "unavailable":
                return refuse(
                    exchange,
                    503,
                    "limits_unavailable",
                    "the token limits cannot be checked now (their store is unavailable); "
                    "retry shortly",
                    {"Retry-After": str(max(1, math.ceil(admission.retry_after)))},
                )
            scope = scopes[admission.refused]
            if scope.kind == "budget" and amounts[admission.refused] > scope.limit:
                return self._too_large(exchange, tokens, scope)
            return self._refuse(exchange, scope, admission)
        for scope, state in zip(scopes, admission.states, strict=True):
            if scope.warn_at and state.remaining <= scope.limit * (1 - scope.warn_at):
                _tell("budget.warning", scope, scope.limit - state.remaining)
        settlement = exchange.settle = _Settlement(self._ledger, scopes, amounts, admission, tokens)
        if ai.stream and exchange.meter is not None:
            exchange.observe(_StreamCharge(self, settlement, exchange.meter, prompt, ai.model))
        response = await next(exchange)
        headers = response.headers
        for scope, state in zip(scopes, admission.states, strict=True):
            if scope.kind == "rate":  # the first (the endpoint's own, when it has one)
                headers["x-ratelimit-limit-tokens"] = str(scope.limit)
                headers["x-ratelimit-remaining-tokens"] = str(state.remaining)
                headers["x-ratelimit-reset-tokens"] = format_reset(state.reset_seconds)
                break
        return response

    def _refuse(self, exchange: Exchange, scope: Scope, admission: Admission) -> web.Response:
        self._refused[scope.kind].inc()
        if scope.kind == "budget":
            _tell("budget.exceeded", scope, None)
        retry = str(max(1, math.ceil(admission.retry_after)))
        if scope.kind == "rate":
            return refuse(
                exchange,
                429,
                "rate_limit_exceeded",
                f"token limit of {scope.limit} per {scope.period:g}s reached ({scope.label}); "
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
        ) + f" per {scope.per}"
        return refuse(
            exchange,
            429,
            "insufficient_quota",
            f"the budget of {spent} is spent ({scope.label}); it renews in {retry}s",
            {"Retry-After": retry},
        )

    def exceeded(self, scope: Scope) -> tuple[str, str]:
        """The error event's code and message for a stream cut by ``scope``."""
        if scope.kind == "rate":
            return (
                "rate_limit_exceeded",
                f"the stream went past the token limit of {scope.limit} per "
                f"{scope.period:g}s ({scope.label})",
            )
        return ("insufficient_quota", f"the stream spent the budget for this {scope.per} "
                f"({scope.label})")  # fmt: skip

    def _too_large(self, exchange: Exchange, tokens: int, scope: Scope) -> web.Response:
        """A request that could never fit: its reservation alone is over the whole limit."""
        self._refused[scope.kind].inc()
        if scope.kind == "budget":
            whole = f"${scope.limit / USD_UNIT:g}" if scope.usd else f"{scope.limit} tokens"
            return refuse(
                exchange,
                429,
                "insufficient_quota",
                f"this request reserves {tokens} tokens (its prompt and max_tokens), more than "
                f"the whole budget of {whole} per {scope.per} ({scope.label}); lower max_tokens",
            )
        return refuse(
            exchange,
            429,
            "rate_limit_exceeded",
            f"this request reserves {tokens} tokens (its prompt and max_tokens), more than the "
            f"token limit of {scope.limit} ({scope.label}) allows at once; lower max_tokens or "
            "shorten the prompt",
            {
                "x-ratelimit-limit-tokens": str(scope.limit),
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": format_reset(scope.period),
            },
        )


def _add(scopes: list[Scope], base: str, where: str, caller: str, terms: TokenTerms) -> None:
    """The scopes ``terms`` set for one caller: a rate, a budget of the current period."""
    if terms.tokens:
        rate = Scope(base + "rate", "rate", terms.tokens, terms.period, label=where, caller=caller)
        scopes.append(rate)
    if terms.budget_usd or terms.budget_tokens:
        period_id, left = budget_period(terms.budget_per, time.time())
        usd = bool(terms.budget_usd)
        scopes.append(
            Scope(
                f"{base}budget\x1f{period_id}",
                "budget",
                int(terms.budget_usd * USD_UNIT) if usd else terms.budget_tokens,
                left,
                usd=usd,
                label=where,
                per=terms.budget_per,
                period_id=period_id,
                caller=caller,
                warn_at=terms.warn_at,
            )
        )


def _charge_of(scope: Scope) -> BudgetCharge:
    return BudgetCharge(
        key=scope.key,
        scope=scope.label,
        caller=scope.caller,
        period=scope.period_id,
        unit="usd" if scope.usd else "tokens",
        budget=scope.limit / (USD_UNIT if scope.usd else 1),
        expires_at=time.time() + scope.period,
    )


def _use_of(scope: Scope) -> LimitUse:
    return LimitUse(
        scope=scope.label, caller=scope.caller, limit=scope.limit, period_seconds=scope.period
    )


def _tell(kind: str, scope: Scope, spent: int | None) -> None:
    """A budget event for the control plane's webhooks (once per budget, caller and period)."""
    unit = USD_UNIT if scope.usd else 1
    TALLY.budget_event(
        kind,
        scope.key,
        BudgetEvent(
            type=kind,
            scope=scope.label,
            caller=scope.caller,
            spent=spent / unit if spent is not None else 0.0,
            budget=scope.limit / unit,
            unit="usd" if scope.usd else "tokens",
            period=scope.period_id,
        ),
    )


class _Settlement:
    """Called once by the handler when the request is over: the answer's usage replaces what
    was charged (the reservation, plus what a stream charged as it went); nothing used, as
    for an error or no answer, refunds it all."""

    __slots__ = ("admission", "held", "ledger", "scopes", "settled", "tokens")

    def __init__(
        self,
        ledger: SettlingLedger,
        scopes: list[Scope],
        amounts: list[int],
        admission: Admission,
        tokens: int,
    ) -> None:
        self.ledger = ledger
        self.scopes = scopes
        # What the scopes hold for the request where it was reserved (``admission``: for
        # Redis, in which generation).
        self.held = list(amounts)
        self.tokens = tokens  # what was charged, in tokens (a dollar budget charged their price)
        self.admission = admission
        self.settled = False

    def __call__(self, exchange: Exchange) -> None:
        self.settled = True
        usage = exchange.usage
        # 499: the client left mid-answer; what it got (the meter's estimate) was used.
        ok = usage is not None and (exchange.status < 400 or exchange.status == 499)
        used = usage.input + usage.output if ok and usage is not None else 0
        cost = exchange.cost_usd if ok and exchange.cost_usd else 0.0
        actual = [math.ceil(cost * USD_UNIT) if scope.usd else used for scope in self.scopes]
        self.ledger.settle_soon(self.scopes, self.held, actual, self.admission)
        for scope, amount in zip(self.scopes, actual, strict=True):
            if amount <= 0:
                continue
            if scope.kind == "budget":  # the durable count: the CP's ledger
                TALLY.budget_charge(scope.key, amount, functools.partial(_charge_of, scope))
            else:  # what ``usage`` shows against the limit's window
                TALLY.limit_use(scope.key, amount, functools.partial(_use_of, scope))


CHARGE_EVERY = 16  # chunks of a stream between two looks at what it has used
CHARGE_AHEAD = 256  # tokens charged beyond what a stream has used, when it needs more


class _StreamCharge:
    """A stream's tokens charged as they go, so a limit or budget trips during a long stream
    and not only after it. Every CHARGE_EVERY chunks it compares what the stream has used
    (the prompt's estimate plus the meter's count of the output so far) with what was
    charged; past it, it charges the difference and CHARGE_AHEAD more, checked like an
    admission. When that does not fit, a policy with ``onExceeded: cut`` ends the stream
    with an error event; otherwise the stream goes on and the charge is made anyway. At
    most one charge is on its way per stream."""

    __slots__ = ("_chunks", "_limit", "_meter", "_model", "_pending", "_prompt", "_settlement")

    def __init__(
        self,
        limit: TokenLimit,
        settlement: _Settlement,
        meter: UsageMeter,
        prompt: int,
        model: str | None,
    ) -> None:
        self._limit = limit
        self._settlement = settlement
        self._meter = meter
        self._prompt = prompt
        self._model = model
        self._chunks = 0
        self._pending: asyncio.Task[None] | None = None

    def on_headers(self, exchange: Exchange, status: int, headers: CIMultiDict[str]) -> None:
        pass

    def on_chunk(self, exchange: Exchange, chunk: bytes) -> None:
        self._chunks += 1
        if self._chunks % CHARGE_EVERY or self._pending is not None:
            return
        meter = self._meter
        used = self._prompt + max(meter.content_events, estimate_tokens(meter.content_bytes))
        settlement = self._settlement
        if used <= settlement.tokens:
            return
        extra = used - settlement.tokens + CHARGE_AHEAD
        price = self._limit.prices.cost(Usage(0, extra), self._model) or 0.0
        amounts = [math.ceil(price * USD_UNIT) if s.usd else extra for s in settlement.scopes]
        self._pending = asyncio.get_running_loop().create_task(
            self._charge(exchange, amounts, extra)
        )

    def on_end(self, exchange: Exchange) -> None:
        pass

    def on_abort(self, exchange: Exchange, reason: str) -> None:
        pass

    async def _charge(self, exchange: Exchange, amounts: list[int], tokens: int) -> None:
        settlement, limit = self._settlement, self._limit
        try:
            admission = await settlement.ledger.reserve(settlement.scopes, amounts)
            ledger, scopes, none = settlement.ledger, settlement.scopes, [0] * len(amounts)
            if admission.store != settlement.admission.store:
                # Counted where the stream's reservation is not (Redis failed meanwhile): give
                # it back there; the stream's settlement charges what it used where it began.
                if admission.allowed:
                    ledger.settle_soon(scopes, amounts, none, admission, final=False)
                return
            if not admission.allowed and limit.cuts:
                exchange.cut = limit.exceeded(scopes[admission.refused])
                return
            if not admission.allowed:  # it finishes, and is charged what it uses
                ledger.settle_soon(scopes, none, amounts, settlement.admission, final=False)
                admission = settlement.admission
            if settlement.settled:  # the request ended meanwhile: its settlement did not see this
                ledger.settle_soon(scopes, amounts, none, admission, final=False)
                return
            if admission.generation != settlement.admission.generation:
                # Redis was rebuilt since the stream's reservation, which went with it: the
                # scopes hold this charge only.
                settlement.admission, settlement.held = admission, list(amounts)
            else:
                settlement.held = [h + a for h, a in zip(settlement.held, amounts, strict=True)]
            settlement.tokens += tokens
        finally:
            self._pending = None
