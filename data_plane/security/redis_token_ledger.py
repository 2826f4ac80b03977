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

Budget counts are rebuilt exactly after Redis loses them: the data plane that finds the
cluster's marker gone seeds Redis from the control plane's ledger under a new generation,
and every data plane adds back what it charged since the batch the ledger holds
(``budget_journal``). A settlement of a reservation made in an older generation charges
what the answer used, as the reservation is not there to replace.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from data_plane.metrics import TALLY, TOKEN_SETTLEMENTS_LOST
from data_plane.security.budget_journal import BudgetJournal, Ledger
from data_plane.security.redis_scripts import RedisUse
from data_plane.security.token_ledger import (
    Admission,
    LocalTokenLedger,
    Scope,
    ScopeState,
    rate_state,
)

log = logging.getLogger("ai_gateway.data_plane.token_limit")

# KEYS: the scopes, then the cluster's marker (a hash: the generation, and per data-plane
# process the last batch its seed held). ARGV: four per scope: kind (0 rate, 1 budget),
# limit, period (rate: us; budget: the key's time to live in ms), amount. Returns
# {1, generation, 0, state...} with one state per scope (rate: us until full; budget:
# spent), {0, index, retry in us}, or {-1} when a budget is asked for and Redis lost the
# ledger's counts (no marker: flushed, or a new Redis) and must be seeded first.
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
local out = {1, redis.call('HGET', KEYS[#KEYS], 'gen') or '', 0}
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

# KEYS: the scopes, then the marker. ARGV: five per scope: kind, limit, period, the signed
# change to what the scope holds for the request (charge or refund, never below zero), and
# what the request used; last, the generation the request's reservation was made in. A
# budget in that generation gets the change; in another, what was used (its reservation
# went with the old counts); with no marker, nothing (the data plane adds it back after
# the seed). Returns the generation ('' with no marker).
SETTLE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gen = redis.call('HGET', KEYS[#KEYS], 'gen')
for i = 1, #KEYS - 1 do
  local at = (i - 1) * 5
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
  elseif gen then
    if gen ~= ARGV[#ARGV] then delta = tonumber(ARGV[at + 5]) end
    local spent = tonumber(redis.call('GET', KEYS[i]) or 0) + delta
    if spent < 0 then spent = 0 end
    redis.call('SET', KEYS[i], string.format('%.0f', spent), 'PX', period)
  end
end
return gen or ''
"""

# KEYS: the marker, the seeding lock, then budget counts. ARGV: the last batch ('1' or
# '0'), the new generation, the number of data-plane processes, their (id, batch) pairs,
# then two per count: the ledger's amount, its time to live in ms. The first batch takes
# the lock (one seeder at a time, so that the marker's batches are those of the counts);
# each count becomes the larger of what Redis and the ledger hold; the last batch writes
# the marker and lets the lock go. Returns 1, 0 when another data plane is seeding, 2 when
# the marker is there already.
SEED_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', 15000)
local reporters = tonumber(ARGV[3])
local at = 3 + reporters * 2
for i = 3, #KEYS do
  local amount, ttl = tonumber(ARGV[at + (i - 3) * 2 + 1]), tonumber(ARGV[at + (i - 3) * 2 + 2])
  if amount > tonumber(redis.call('GET', KEYS[i]) or 0) then
    redis.call('SET', KEYS[i], string.format('%.0f', amount), 'PX', ttl)
  end
end
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'gen', ARGV[2])
  for j = 1, reporters do
    redis.call('HSET', KEYS[1], ARGV[3 + (j - 1) * 2 + 1], ARGV[3 + (j - 1) * 2 + 2])
  end
  redis.call('DEL', KEYS[2])
end
return 1
"""

# KEYS: the marker; ARGV: this process's id. Returns {generation or nil, its batch or nil}.
LOOK_SCRIPT = "return redis.call('HMGET', KEYS[1], 'gen', ARGV[1])"

# A part of a catch-up (charges a rebuilt Redis lacks), applied at most once: KEYS: budget
# counts, then the marker; ARGV: the generation, the part's name, then two per count: its
# time to live in ms and the amount to add. Returns 1 (added), 2 (added before: a retry after
# a lost reply) or 0 (another generation now: not added).
CATCH_UP_SCRIPT = """
if redis.call('HGET', KEYS[#KEYS], 'gen') ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[#KEYS], ARGV[2]) == 1 then return 2 end
for i = 1, #KEYS - 1 do
  local ttl, amount = tonumber(ARGV[(i - 1) * 2 + 3]), tonumber(ARGV[(i - 1) * 2 + 4])
  local spent = tonumber(redis.call('GET', KEYS[i]) or 0) + amount
  redis.call('SET', KEYS[i], string.format('%.0f', spent), 'PX', ttl)
end
redis.call('HSET', KEYS[#KEYS], ARGV[2], '1')
return 1
"""
PREFIX = "aigw:tok:"
TIMEOUT = 0.25  # longer than the rate limit's: an admission that falls back counts per replica
SEED_BATCH = 500  # counts per seed call: a long script would hold Redis up
SEED_RETRY_SECONDS = 5.0  # after a ledger that could not be read
SEED_WAIT_SECONDS = 0.5  # while another data plane seeds: requests count here meanwhile
BUDGET_TTL_MARGIN_MS = 3_600_000  # a budget's key outlives its period by an hour
LedgerSource = Callable[[], Awaitable[Ledger]]
MAX_SETTLING = 10_000  # settlements on their way to Redis; past it they are counted as lost
LOOK_SECONDS = 1.0  # how often a data plane with charges in its journal looks at the marker
# A batch the ledger acknowledged this long ago is in any seed still to come: a seed reads
# the ledger (5 s at most) and writes the marker (the lock: 15 s) within this time.
PRUNE_AFTER_SECONDS = 30.0


class RedisTokenLedger:
    def __init__(
        self,
        redis: RedisUse,
        fallback: LocalTokenLedger,
        cluster: str = "",
        ledger: LedgerSource | None = None,
        reporter: str = "",
    ) -> None:
        """``redis``: shared with the request rate limit (one pipelined connection), with this
        ledger's timeout (TIMEOUT); ``ledger``: reads the control plane's budget counts, to
        seed a Redis that lost them (None: budgets start from Redis's counts, whatever they
        are); ``reporter``: this process as the ledger knows it (``reporter_id``)."""
        self._redis = redis
        self._fallback = fallback
        self._prefix = PREFIX
        self._marker = f"{PREFIX}gen\x1f{cluster}"
        self._seeding_lock = f"{PREFIX}seeding\x1f{cluster}"
        self._ledger = ledger
        self._reporter = reporter
        self._seeding = asyncio.Lock()  # one seed or catch-up at a time
        self._seed_after = 0.0  # a ledger that could not be read is asked again from then
        self._settling: set[asyncio.Task[None]] = set()
        self.generation = b""  # the Redis generation this process's journal is caught up with
        self._journal = BudgetJournal()
        self._catching_up: asyncio.Task[None] | None = None
        self._looking: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self._redis.healthy

    async def reserve(self, scopes: Sequence[Scope], amounts: Sequence[int]) -> Admission:
        redis = self._redis
        if redis.available:
            keys = [self._prefix + s.key for s in scopes]

            def late(reply: Any) -> None:  # reserved after all, but nobody knew: give it back
                if isinstance(reply, list) and reply and reply[0] == 1:
                    made = Admission(True, (), store="redis", generation=reply[1])
                    self.settle_soon(scopes, amounts, [0] * len(amounts), made, final=False)

            keys.append(self._marker)
            args = _args(scopes, amounts)
            reply = await redis.run(RESERVE_SCRIPT, keys, args, late=late)
            if reply is not None and reply[0] == -1 and await self._seed():
                reply = await redis.run(RESERVE_SCRIPT, keys, args, late=late)
            if reply is not None and reply[0] != -1:
                if reply[0] == 1:
                    self._heard(reply[1])
                return _admission(scopes, reply)
        if redis.failure == "closed":
            return Admission(False, (), 0, redis.pause, store="unavailable")
        return self._fallback.take(scopes, amounts)

    def settle_soon(
        self,
        scopes: Sequence[Scope],
        held: Sequence[int],
        used: Sequence[int],
        admission: Admission,
        final: bool = True,
    ) -> None:
        if admission.store != "redis":
            self._fallback.settle_soon(scopes, held, used, admission, final)
            return
        # What the ledger gets from a final settlement (none from a correction on the way).
        charged = [
            (s, u) for s, u in zip(scopes, used, strict=True) if final and s.kind == "budget" and u
        ]
        batch = TALLY.charges_batch  # the telemetry batch the ledger gets these charges in
        if held == used and admission.generation == self.generation:
            if charged:  # Redis holds it already, as it was reserved
                self._remember(batch, self.generation, charged)
            return
        if len(self._settling) >= MAX_SETTLING:
            TOKEN_SETTLEMENTS_LOST.inc()  # Redis is far behind: do not pile up tasks
            return
        keys = [*(self._prefix + s.key for s in scopes), self._marker]
        args = _settle_args(scopes, held, used, admission.generation)
        settling = self._settle(keys, args, batch, charged)
        task = asyncio.get_running_loop().create_task(settling)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(
        self,
        keys: list[str],
        args: list[bytes | str | int],
        batch: int,
        charged: list[tuple[Scope, int]],
    ) -> None:
        """SETTLE_SCRIPT; ``charged`` goes to the journal under the generation it ran in."""
        # A settlement is worth a longer wait than an admission: nobody waits for it.
        reply = await self._redis.run(SETTLE_SCRIPT, keys, args, self._redis.timeout * 4)
        if reply is None:
            TOKEN_SETTLEMENTS_LOST.inc()
            return
        if charged:
            self._remember(batch, reply, charged)
        self._heard(reply)

    def _remember(self, batch: int, generation: bytes, charged: list[tuple[Scope, int]]) -> None:
        self._journal.record(batch, generation, charged)
        if self._ledger is not None and self._looking is None:
            self._looking = asyncio.get_running_loop().create_task(self._look())

    def _heard(self, generation: bytes) -> None:
        """A reply named the Redis generation: one this process has not caught up with yet
        gets what this process charged that its seed lacks."""
        if generation and generation != self.generation and self._catching_up is None:
            if not self._journal:
                self.generation = generation
                return
            self._catching_up = asyncio.get_running_loop().create_task(
                self._catch_up_with(generation)
            )

    async def _catch_up_with(self, generation: bytes, included: int | None = None) -> None:
        """Add to the Redis of ``generation`` the charges its seed lacks: those after the
        batch the marker says it included (``included``, when this process seeded it)."""
        try:
            async with self._seeding:
                if generation == self.generation:
                    return
                if included is None:
                    look = await self._redis.run(LOOK_SCRIPT, [self._marker], [self._reporter])
                    if look is None or look[0] != generation:
                        return  # Redis is away, or moved on: the next reply tells
                    included = int(look[1] or 0)
                missing = self._journal.missing(generation, included)
                totals = sorted(self._journal.totals(missing), key=lambda charge: charge[0].key)
                for start in range(0, len(totals), SEED_BATCH):
                    part = totals[start : start + SEED_BATCH]
                    keys = [*(self._prefix + scope.key for scope, _ in part), self._marker]
                    # Named, so that a retry after a reply that never came adds nothing twice.
                    args: list[bytes | str | int] = [
                        generation,
                        f"caught\x1f{self._reporter}\x1f{start}",
                    ]
                    for scope, amount in part:
                        args += [math.ceil(scope.period * 1000) + BUDGET_TTL_MARGIN_MS, amount]
                    reply = await self._redis.run(CATCH_UP_SCRIPT, keys, args, wait=2.0)
                    if reply not in (1, 2):  # Redis away, or a newer generation has them
                        return
                self._journal.move(missing, generation)
                self.generation = generation
                if totals:
                    log.info(
                        "budget charges not yet in the ledger added to the rebuilt Redis: %d",
                        len(totals),
                    )
        finally:
            self._catching_up = None

    async def _look(self) -> None:
        """Each second while the journal holds charges: a Redis that lost its counts is seeded
        (no request need find it), one seeded by another data plane gets this process's
        charges, and batches the ledger has held long enough leave the journal."""
        while True:
            await asyncio.sleep(LOOK_SECONDS)
            if not self._journal or not self._redis.available:
                continue
            try:
                await self._look_once()
            except Exception:  # never the end of the looking: the next second tries again
                log.exception("the look at the budget marker failed")

    async def _look_once(self) -> None:
        asked = time.monotonic()
        look = await self._redis.run(LOOK_SCRIPT, [self._marker], [self._reporter])
        if look is None:
            return
        if look[0] is None:
            await self._seed()
        elif look[0] != self.generation:
            if self._catching_up is None:
                self._catching_up = asyncio.get_running_loop().create_task(
                    self._catch_up_with(look[0])
                )
        else:
            self._journal.prune(TALLY.batch_acked_before(asked - PRUNE_AFTER_SECONDS))

    async def _seed(self) -> bool:
        """Put the ledger's budget counts back into a Redis that lost them (once, whoever
        asks first), then this process's charges the ledger lacks; False when it cannot be
        done now (the request then counts locally)."""
        async with self._seeding:
            if time.monotonic() < self._seed_after:
                return False
            look = await self._redis.run(LOOK_SCRIPT, [self._marker], [self._reporter])
            if look is None:
                return False
            if look[0] is not None:
                return True  # seeded while this request waited: no ledger to read
            try:
                ledger = await self._ledger() if self._ledger is not None else Ledger([], {})
            except Exception as exc:  # the control plane is away: try again in a while
                log.warning("budget ledger not read (%r); counting budgets here meanwhile", exc)
                self._seed_after = time.monotonic() + SEED_RETRY_SECONDS
                return False
            now, counts = time.time(), ledger.counts
            generation = secrets.token_hex(8).encode()
            batches = [counts[i : i + SEED_BATCH] for i in range(0, len(counts), SEED_BATCH)]
            batches = batches or [[]]
            for index, batch in enumerate(batches):
                last = index == len(batches) - 1
                keys = [self._marker, self._seeding_lock]
                keys += [self._prefix + key for key, _, _ in batch]
                reporters = list(ledger.included.items()) if last else []
                args: list[bytes | str | int] = [int(last), generation, len(reporters)]
                for reporter, included in reporters:
                    args += [reporter, included]
                for _, amount, ends in batch:
                    args += [amount, max(1, int((ends - now) * 1000)) + BUDGET_TTL_MARGIN_MS]
                reply = await self._redis.run(SEED_SCRIPT, keys, args, wait=2.0)
                if reply is None or reply == 0:  # Redis is away, or another data plane seeds
                    self._seed_after = time.monotonic() + SEED_WAIT_SECONDS
                    return False
                if reply == 2:
                    return True  # seeded meanwhile: the request is tried again
            log.info("budget counts put back into Redis from the ledger: %d", len(counts))
        await self._catch_up_with(generation, ledger.included.get(self._reporter, 0))
        return True

    async def drain(self) -> None:
        """Let the settlements on their way reach Redis (before its connection closes)."""
        for task in (self._looking, self._catching_up):
            if task is not None:
                task.cancel()
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


def _settle_args(
    scopes: Sequence[Scope], held: Sequence[int], used: Sequence[int], generation: bytes
) -> list[bytes | str | int]:
    args: list[bytes | str | int] = []
    for scope, before, after in zip(scopes, held, used, strict=True):
        if scope.kind == "rate":
            args += [0, scope.limit, int(scope.period * 1e6), after - before, after]
        else:
            ttl = math.ceil(scope.period * 1000) + BUDGET_TTL_MARGIN_MS
            args += [1, scope.limit, ttl, after - before, after]
    args.append(generation)
    return args


def _admission(scopes: Sequence[Scope], reply: list[Any]) -> Admission:
    if not reply[0]:
        index = reply[1] - 1
        scope = scopes[index]
        retry = reply[2] / 1e6 if scope.kind == "rate" else scope.period
        return Admission(False, (), index, retry, store="redis")
    states: list[ScopeState] = []
    for scope, value in zip(scopes, (int(v) for v in reply[3:]), strict=True):
        if scope.kind == "rate":
            states.append(rate_state(value / 1e6, 0.0, scope.limit, scope.period))
        else:
            states.append(ScopeState(max(0, scope.limit - value), scope.period))
    return Admission(True, tuple(states), store="redis", generation=reply[1])
