"""Token limits and budgets shared by every replica: one Lua script per admission, one per
settlement, over all the request's scopes at once.

The script checks every scope first and charges only when all have room, so
concurrent requests on any number of data planes cannot slip past a limit
between a check and a charge (the race that lets a gateway admit several
times its limit). Redis's clock (TIME) times the rates, so skewed replicas
count as one. A slow or absent Redis must not stall traffic: each call has a
short timeout (250 ms: longer than the request rate limit's 50, as an admission that
falls back counts per replica); the commands of every request share one pipelined
connection (``redis_scripts``). On failure the admission falls back to this process's ledger
(fail-open) or refuses (fail-closed), like the request rate limit, and its
settlement goes to where it was reserved.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from data_plane.metrics import TOKEN_SETTLEMENTS_LOST
from data_plane.security.redis_scripts import RedisUse
from data_plane.security.token_ledger import (
    Admission,
    LocalTokenLedger,
    Scope,
    ScopeState,
    rate_state,
)

log = logging.getLogger("ai_gateway.data_plane.token_limit")

# KEYS: the scopes, then the cluster's "seeded" marker. ARGV: four per scope: kind (0 rate,
# 1 budget), limit, period (rate: us; budget: the key's time to live in ms), amount. Returns
# {1, 0, 0, state...} with one state per scope (rate: us until full; budget: spent),
# {0, index, retry in us}, or {-1} when a budget is asked for and Redis lost the ledger's
# counts (no marker: flushed, or a new Redis) and must be seeded first.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local scopes = #KEYS - 1
for i = 1, scopes do
  if ARGV[(i - 1) * 4 + 1] == '1' and redis.call('EXISTS', KEYS[#KEYS]) == 0 then
    return {-1}
  end
end
local new = {}
for i = 1, scopes do
  local at = (i - 1) * 4
  local kind, limit = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local period, amount = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  if kind == 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local next_tat = tat + amount * period / limit
    if next_tat - now > period then
      return {0, i, math.floor(next_tat - now - period)}
    end
    new[i] = next_tat
  else
    local spent = tonumber(redis.call('GET', KEYS[i]) or 0)
    if spent + amount > limit then
      return {0, i, 0}
    end
    new[i] = spent + amount
  end
end
local out = {1, 0, 0}
for i = 1, scopes do
  local at = (i - 1) * 4
  local kind, period = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 3])
  if kind == 0 then
    local ttl = math.floor((new[i] - now) / 1000) + 1
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', ttl)
    out[#out + 1] = math.floor(new[i] - now)
  else
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', period)
    out[#out + 1] = new[i]
  end
end
return out
"""

# ARGV as above with a signed delta for the amount: charge or refund, never below zero.
SETTLE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local at = (i - 1) * 4
  local kind, limit = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local period, delta = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  if kind == 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local next_tat = tat + delta * period / limit
    if next_tat > now then
      local ttl = math.floor((next_tat - now) / 1000) + 1
      redis.call('SET', KEYS[i], string.format('%.0f', next_tat), 'PX', ttl)
    else
      redis.call('DEL', KEYS[i])
    end
  else
    local spent = tonumber(redis.call('GET', KEYS[i]) or 0) + delta
    if spent < 0 then spent = 0 end
    redis.call('SET', KEYS[i], string.format('%.0f', spent), 'PX', period)
  end
end
return 1
"""
# KEYS: the "seeded" marker, then budget counts; ARGV: two per count: the ledger's amount,
# its time to live in ms. Each count becomes the larger of what Redis and the ledger hold
# (so seeding twice, or by two data planes at once, is harmless); with ARGV[1] '1' (the
# last batch), the marker is set. A marker already set: nothing to do.
SEED_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do
  local amount, ttl = tonumber(ARGV[(i - 2) * 2 + 2]), tonumber(ARGV[(i - 2) * 2 + 3])
  if amount > tonumber(redis.call('GET', KEYS[i]) or 0) then
    redis.call('SET', KEYS[i], string.format('%.0f', amount), 'PX', ttl)
  end
end
if ARGV[1] == '1' then redis.call('SET', KEYS[1], '1') end
return 1
"""
PREFIX = "aigw:tok:"
TIMEOUT = 0.25  # longer than the rate limit's: an admission that falls back counts per replica
SEED_BATCH = 500  # counts per seed call: a long script would hold Redis up
SEED_RETRY_SECONDS = 5.0  # after a ledger that could not be read
BUDGET_TTL_MARGIN_MS = 3_600_000  # a budget's key outlives its period by an hour
LedgerSource = Callable[[], Awaitable[list[tuple[str, int, float]]]]
MAX_SETTLING = 10_000  # settlements on their way to Redis; past it they are counted as lost
_LATE = Admission(True, (), store="redis")  # a reservation whose reply came after its timeout


class RedisTokenLedger:
    def __init__(
        self,
        redis: RedisUse,
        fallback: LocalTokenLedger,
        cluster: str = "",
        ledger: LedgerSource | None = None,
    ) -> None:
        """``redis``: shared with the request rate limit (one pipelined connection), with this
        ledger's timeout (TIMEOUT); ``ledger``: reads the control plane's budget counts, to
        seed a Redis that lost them (None: budgets start from Redis's counts, whatever they
        are)."""
        self._redis = redis
        self._fallback = fallback
        self._prefix = PREFIX
        self._marker = f"{PREFIX}seeded\x1f{cluster}"
        self._ledger = ledger
        self._seeding = asyncio.Lock()
        self._seed_after = 0.0  # a ledger that could not be read is asked again from then
        self._settling: set[asyncio.Task[None]] = set()

    @property
    def healthy(self) -> bool:
        return self._redis.healthy

    async def reserve(self, scopes: Sequence[Scope], amounts: Sequence[int]) -> Admission:
        redis = self._redis
        if redis.available:
            keys = [self._prefix + s.key for s in scopes]

            def late(reply: Any) -> None:  # reserved after all, but nobody knew: give it back
                if isinstance(reply, list) and reply and reply[0] == 1:
                    self.settle_soon(scopes, [-a for a in amounts], _LATE)

            keys.append(self._marker)
            args = _args(scopes, amounts)
            reply = await redis.run(RESERVE_SCRIPT, keys, args, late=late)
            if reply is not None and reply[0] == -1 and await self._seed():
                reply = await redis.run(RESERVE_SCRIPT, keys, args, late=late)
            if reply is not None and reply[0] != -1:
                return _admission(scopes, [int(v) for v in reply])
        if redis.failure == "closed":
            return Admission(False, (), 0, redis.pause, store="unavailable")
        return self._fallback.take(scopes, amounts)

    def settle_soon(
        self, scopes: Sequence[Scope], deltas: Sequence[int], admission: Admission
    ) -> None:
        if admission.store != "redis":
            self._fallback.adjust(scopes, deltas)
            return
        if len(self._settling) >= MAX_SETTLING:
            TOKEN_SETTLEMENTS_LOST.inc()  # Redis is far behind: do not pile up tasks
            return
        task = asyncio.get_running_loop().create_task(self.settle(scopes, deltas))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def settle(self, scopes: Sequence[Scope], deltas: Sequence[int]) -> None:
        keys = [self._prefix + s.key for s in scopes]
        # A settlement is worth a longer wait than an admission: nobody waits for it.
        timeout = self._redis.timeout * 4
        if await self._redis.run(SETTLE_SCRIPT, keys, _args(scopes, deltas), timeout) is None:
            TOKEN_SETTLEMENTS_LOST.inc()

    async def _seed(self) -> bool:
        """Put the ledger's budget counts back into a Redis that lost them (once, whoever
        asks first); False when it cannot be done now (the request then counts locally)."""
        async with self._seeding:
            if time.monotonic() < self._seed_after:
                return False
            try:
                counts = await self._ledger() if self._ledger is not None else []
            except Exception as exc:  # the control plane is away: try again in a while
                log.warning("budget ledger not read (%r); counting budgets here meanwhile", exc)
                self._seed_after = time.monotonic() + SEED_RETRY_SECONDS
                return False
            now = time.time()
            batches = [counts[i : i + SEED_BATCH] for i in range(0, len(counts), SEED_BATCH)]
            for index, batch in enumerate(batches or [[]]):
                keys = [self._marker, *(self._prefix + key for key, _, _ in batch)]
                args = [1 if index == len(batches or [[]]) - 1 else 0]
                for _, amount, ends in batch:
                    args += [amount, max(1, int((ends - now) * 1000)) + BUDGET_TTL_MARGIN_MS]
                if await self._redis.run(SEED_SCRIPT, keys, args, wait=2.0) is None:
                    return False
            log.info("budget counts put back into Redis from the ledger: %d", len(counts))
            return True

    async def drain(self) -> None:
        """Let the settlements on their way reach Redis (before its connection closes)."""
        if self._settling:
            await asyncio.wait(self._settling, timeout=1.0)


def _args(scopes: Sequence[Scope], amounts: Sequence[int]) -> list[int]:
    args: list[int] = []
    for scope, amount in zip(scopes, amounts, strict=True):
        if scope.kind == "rate":
            args += [0, scope.limit, int(scope.period * 1e6), amount]
        else:
            ttl = math.ceil(scope.period * 1000) + BUDGET_TTL_MARGIN_MS
            args += [1, scope.limit, ttl, amount]
    return args


def _admission(scopes: Sequence[Scope], reply: list[int]) -> Admission:
    if not reply[0]:
        index = reply[1] - 1
        scope = scopes[index]
        retry = reply[2] / 1e6 if scope.kind == "rate" else scope.period
        return Admission(False, (), index, retry, store="redis")
    states: list[ScopeState] = []
    for scope, value in zip(scopes, reply[3:], strict=True):
        if scope.kind == "rate":
            states.append(rate_state(value / 1e6, 0.0, scope.limit, scope.period))
        else:
            states.append(ScopeState(max(0, scope.limit - value), scope.period))
    return Admission(True, tuple(states), store="redis")
