"""Limits that keep a gateway answering: the per-target circuit breaker and load shedding (O1, O2)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import aiohttp
import httpx

from tests.support.gateway import Gateway


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def hold(url: str, count: int) -> list[threading.Thread]:
    """``count`` requests that keep a backend busy until joined."""
    held = [
        threading.Thread(target=httpx.get, args=(url,), kwargs={"timeout": 10})
        for _ in range(count)
    ]
    for thread in held:
        thread.start()
    return held


def test_o1_over_the_circuit_breaker_is_an_immediate_503(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("slow")
        gw.add_data_plane("dp", "--max-requests-per-target", "2")
        gw.add_route(path="/slow", target=backend)
        held = hold(gw.proxy_url() + "/slow?delay=2", 2)
        time.sleep(0.5)
        answer = httpx.get(gw.proxy_url() + "/slow?delay=0")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "upstream_overloaded"
        assert answer.headers["Retry-After"] == "1"
        assert all(thread.is_alive() for thread in held), "the 503 waited for a held request"
        for thread in held:
            thread.join()
        assert httpx.get(gw.proxy_url() + "/slow?delay=0").status_code == 200
    finally:
        gw.stop()


def test_o1_connections_and_pending_requests_are_bounded_per_route(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("slow")
        gw.add_data_plane("dp")
        breaker = {"maxConnections": 2, "maxPendingRequests": 1}
        gw.add_route(path="/slow", target=backend, circuitBreaker=breaker)
        statuses: dict[int, tuple[int, float]] = {}  # index -> (status, when it ended)

        def timed(index: int) -> None:
            answer = httpx.get(gw.proxy_url() + "/slow?delay=1.5", timeout=10)
            statuses[index] = (answer.status_code, time.monotonic())

        held = [threading.Thread(target=timed, args=(i,)) for i in range(3)]
        for thread in held:
            thread.start()
            time.sleep(0.2)  # two take the connections, the third waits for one
        answer = httpx.get(gw.proxy_url() + "/slow?delay=0")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "upstream_overloaded"
        assert answer.headers["Retry-After"] == "1"
        assert not statuses, "the 503 waited for a connection to free"
        for thread in held:
            thread.join()
        assert [statuses[i][0] for i in range(3)] == [200, 200, 200]
        first_freed = min(statuses[0][1], statuses[1][1])
        assert statuses[2][1] >= first_freed + 1.2, "the waiting request ran on a freed connection"

        no_queue = {"maxConnections": 1, "maxPendingRequests": 0}
        gw.add_route(path="/single", target=backend, rewritePrefix="/slow", circuitBreaker=no_queue)
        held = hold(gw.proxy_url() + "/single?delay=1", 1)
        time.sleep(0.3)
        refused = httpx.get(gw.proxy_url() + "/single?delay=0")
        assert refused.status_code == 503, "maxPendingRequests 0: no queue at all"
        for thread in held:
            thread.join()
    finally:
        gw.stop()


def test_o2_a_thousand_requests_at_a_hanging_target(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("hanging")
        plane = gw.add_data_plane("dp", "--max-requests-per-target", "100")
        gw.add_route(path="/hold", target=backend, timeouts={"firstByte": 1.0})
        pid = plane.ready["pid"]
        baseline = open_fds(pid)

        async def storm() -> list[int]:
            connector = aiohttp.TCPConnector(limit=1000)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def one() -> int:
                    async with session.get(gw.proxy_url() + "/hold") as response:
                        await response.read()
                        return response.status

                return await asyncio.gather(*(one() for _ in range(1000)))

        started = time.monotonic()
        statuses = asyncio.run(storm())
        assert time.monotonic() - started < 10, "requests waited without bound"
        assert set(statuses) <= {503, 504} and statuses.count(504) <= 100, sorted(set(statuses))
        ops = f"http://127.0.0.1:{plane.ready['ops_port']}/healthz"
        assert httpx.get(ops).status_code == 200
        deadline = time.monotonic() + 10
        while open_fds(pid) > baseline + 5:
            assert time.monotonic() < deadline, f"{open_fds(pid)} fds open, {baseline} before"
            time.sleep(0.1)
    finally:
        gw.stop()


def test_load_shedding_keeps_health_checks_answering(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("slow")
        plane = gw.add_data_plane("dp", "--max-concurrency", "5")
        gw.add_route(path="/slow", target=backend)
        held = hold(gw.proxy_url() + "/slow?delay=2", 5)
        time.sleep(0.5)
        shed = httpx.get(gw.proxy_url() + "/slow?delay=0")
        assert shed.status_code == 503 and shed.json()["error"]["code"] == "overloaded"
        assert all(thread.is_alive() for thread in held), "the shed request waited for a slot"
        assert httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/healthz").status_code == 200
        for thread in held:
            thread.join()
    finally:
        gw.stop()
