"""The limiters' pipelined Redis connection against a real Redis: scripts loaded on demand,
the database of the URL, many calls in flight on one connection, a lost connection
replaced, and a bound on what may wait."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest

from data_plane.security import redis_scripts
from data_plane.security.redis_scripts import RedisFailure, RedisScripts, RedisUse
from data_plane.security.redis_token_ledger import RedisTokenLedger
from data_plane.security.token_ledger import LocalTokenLedger, Scope
from tests.support.services import REDIS_HOST, REDIS_PORT, private_redis, redis_command, require

URL = f"redis://{REDIS_HOST}:{REDIS_PORT}"
INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture(autouse=True)
def _redis() -> None:
    require("Redis", REDIS_HOST, REDIS_PORT)


def test_a_script_unknown_to_redis_is_loaded_and_run() -> None:
    key = f"aigw:test:{uuid.uuid4().hex}"
    script = INCR + f" -- {uuid.uuid4().hex}"  # a script this Redis has never seen

    async def run() -> list[int]:
        scripts = RedisScripts(URL)
        try:
            return [await scripts.run(script, [key], [5]) for _ in range(2)]
        finally:
            await scripts.close()

    assert asyncio.run(run()) == [5, 10]
    redis_command("DEL", key)


def test_the_url_s_database_is_used() -> None:
    key = f"aigw:test:{uuid.uuid4().hex}"

    async def run() -> int:
        scripts = RedisScripts(URL + "/3")
        try:
            return int(await scripts.run(INCR, [key], [7]))
        finally:
            await scripts.close()

    assert asyncio.run(run()) == 7
    assert redis_command("EXISTS", key) == b":0\r\n"  # not in database 0
    assert redis_command("GET", key, database=3) == b"$1\r\n7\r\n"
    redis_command("DEL", key, database=3)


def test_many_calls_share_one_connection_and_keep_their_order() -> None:
    key = f"aigw:test:{uuid.uuid4().hex}"

    async def run() -> list[int]:
        scripts = RedisScripts(URL)
        try:
            return list(await asyncio.gather(*(scripts.run(INCR, [key], [1]) for _ in range(500))))
        finally:
            await scripts.close()

    assert sorted(asyncio.run(run())) == list(range(1, 501))
    redis_command("DEL", key)


def test_a_lost_connection_fails_its_calls_and_the_next_call_reconnects() -> None:
    key = f"aigw:test:{uuid.uuid4().hex}"

    async def run() -> tuple[int, int]:
        scripts = RedisScripts(URL)
        try:
            first = int(await scripts.run(INCR, [key], [1]))
            connection = scripts._protocol  # the one connection, to cut it from the outside
            assert connection is not None and connection.transport is not None
            host, port = connection.transport.get_extra_info("sockname")[:2]
            assert redis_command("CLIENT", "KILL", f"{host}:{port}") == b"+OK\r\n"
            await asyncio.sleep(0)
            for _ in range(50):  # the loss is noticed when the socket says so
                try:
                    return first, int(await scripts.run(INCR, [key], [1]))
                except RedisFailure:
                    await asyncio.sleep(0.01)
            raise AssertionError("never reconnected")
        finally:
            await scripts.close()

    assert asyncio.run(run()) == (1, 2)
    redis_command("DEL", key)


def test_calls_beyond_the_bound_fail_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_scripts, "MAX_PENDING", 3)

    async def run() -> list[object]:
        scripts = RedisScripts(URL)
        try:
            await scripts.run("return 1", [], [])  # connected
            calls = [scripts.run("return 1", [], []) for _ in range(5)]
            return list(await asyncio.gather(*calls, return_exceptions=True))
        finally:
            await scripts.close()

    results = asyncio.run(run())
    assert results.count(1) == 3
    assert all(isinstance(r, RedisFailure) for r in results if r != 1)


def test_a_url_that_is_not_redis_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisScripts("http://127.0.0.1:6379")


def test_a_reservation_whose_reply_came_too_late_is_given_back() -> None:
    """Redis frozen while a reservation is on its way: the gateway stops waiting (and counts
    locally), Redis runs the script when it wakes, and the late reservation is refunded."""
    with private_redis() as (redis, port):

        async def run() -> tuple[bool, str, bytes]:
            scripts = RedisScripts(f"redis://127.0.0.1:{port}")
            ledger = RedisTokenLedger(
                RedisUse(scripts, "token limits", timeout=0.1), LocalTokenLedger()
            )
            budget = Scope("late\x1fbudget", "budget", 10_000, 3600.0)
            try:
                assert (await ledger.reserve([budget], [100])).store == "redis"  # connected
                redis.send_signal(signal.SIGSTOP)
                admission = await ledger.reserve([budget], [5000])  # times out: counted here
                redis.send_signal(signal.SIGCONT)
                deadline = time.monotonic() + 5
                while True:  # the late reply comes, and with it the refund
                    value = redis_command("GET", "aigw:tok:late\x1fbudget", port=port)
                    if value == b"$3\r\n100\r\n" or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.02)
                return admission.allowed, admission.store, value
            finally:
                await ledger.drain()
                await scripts.close()

        allowed, store, value = asyncio.run(run())
    assert allowed and store == "local"
    assert value == b"$3\r\n100\r\n", value  # 100 + 5000 reserved late - 5000 given back


def test_a_connection_that_stopped_answering_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_scripts, "STALLED_SECONDS", 0.3)
    with private_redis() as (redis, port):

        async def run() -> tuple[str, int]:
            scripts = RedisScripts(f"redis://127.0.0.1:{port}")
            try:
                assert await scripts.run("return 1", [], []) == 1
                redis.send_signal(signal.SIGSTOP)
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await scripts.run("return 2", [], [])
                await asyncio.sleep(0.35)  # the unanswered call is now older than the bound
                with pytest.raises(RedisFailure) as stalled:
                    await scripts.run("return 3", [], [])
                redis.send_signal(signal.SIGCONT)
                return str(stalled.value), int(await scripts.run("return 4", [], []))
            finally:
                await scripts.close()

        message, after = asyncio.run(run())
    assert "stopped answering" in message and after == 4  # a fresh connection answers


def test_a_catch_up_part_tried_again_after_a_lost_reply_adds_nothing_twice() -> None:
    from data_plane.security.redis_token_ledger import CATCH_UP_SCRIPT

    marker, count = f"aigw:test:gen:{uuid.uuid4().hex}", f"aigw:test:count:{uuid.uuid4().hex}"

    async def run() -> tuple[list[int], bytes]:
        scripts = RedisScripts(URL)
        try:
            await scripts.run(
                "return redis.call('HSET', KEYS[1], 'gen', ARGV[1])", [marker], ["g2"]
            )
            part: list[str | int] = ["g2", "caught\x1fdp\x1f0", 60_000, 100]
            replies = [await scripts.run(CATCH_UP_SCRIPT, [count, marker], part) for _ in range(2)]
            other = await scripts.run(CATCH_UP_SCRIPT, [count, marker], ["g3", "x", 60_000, 7])
            return [*replies, other], await scripts.run(
                "return redis.call('GET', KEYS[1])", [count], []
            )
        finally:
            await scripts.close()

    replies, spent = asyncio.run(run())
    assert replies == [1, 2, 0]  # added, already added, another generation: not added
    assert spent == b"100"
    redis_command("DEL", marker, count)
