"""Rate limits shared through Redis by several data planes, and what happens when Redis is gone."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import httpx

from tests.support.gateway import Gateway, wait_until_serving
from tests.support.services import REDIS_HOST, REDIS_PORT, private_redis, require


def test_two_data_planes_share_one_count(tmp_path: Path) -> None:
    require("Redis", REDIS_HOST, REDIS_PORT)
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        gw.add_data_plane("dp-a", "--redis-url", redis_url)
        gw.add_data_plane("dp-b", "--redis-url", redis_url)
        endpoint = f"/shared-{uuid.uuid4().hex[:8]}"
        gw.add_route(path=endpoint, target=backend)
        gw.secure(endpoint, authType="none", rateLimit="10/min")
        statuses = [httpx.get(gw.proxy_url(i % 2) + endpoint).status_code for i in range(30)]
        assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses
    finally:
        gw.stop()


def test_redis_down_fails_open_to_the_local_count(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane("dp-a", "--redis-url", "redis://127.0.0.1:9/0")
        gw.add_route(path="/open", target=backend)
        gw.secure("/open", authType="none", rateLimit="3/min")
        statuses = [httpx.get(gw.proxy_url() + "/open").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert "Redis rate limiting unavailable" in gw.data_planes[0].logs()
    finally:
        gw.stop()


def test_redis_down_fails_closed_when_asked(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane(
            "dp-a", "--redis-url", "redis://127.0.0.1:9/0", "--rate-limit-failure", "closed"
        )
        gw.add_route(path="/closed", target=backend)
        gw.secure("/closed", authType="none", rateLimit="3/min")
        refused = httpx.get(gw.proxy_url() + "/closed")
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        gw.add_route(path="/unlimited", target=backend)
        assert httpx.get(gw.proxy_url() + "/unlimited").status_code == 200, (
            "routes without a limit need no Redis"
        )
    finally:
        gw.stop()


def test_a_frozen_redis_costs_one_timeout_then_falls_back_and_recovers(tmp_path: Path) -> None:
    """Our own redis-server, frozen with SIGSTOP: requests wait at most the 50 ms budget."""
    with private_redis() as (redis, port):
        gw = Gateway(tmp_path)
        try:
            gw.start_control_plane()
            backend = gw.add_upstream("alpha")
            gw.add_data_plane("dp-a", "--redis-url", f"redis://127.0.0.1:{port}/0")
            gw.add_route(path="/frozen", target=backend)
            gw.secure("/frozen", rateLimit="1000/min")
            client = httpx.Client(base_url=gw.proxy_url())
            assert client.get("/frozen").status_code == 200
            redis.send_signal(signal.SIGSTOP)
            timings = []
            for _ in range(10):
                started = time.monotonic()
                assert client.get("/frozen").status_code == 200
                timings.append(time.monotonic() - started)
            assert max(timings) < 0.5, timings
            assert sorted(timings)[5] < 0.05, "every request paid the Redis timeout, not just one"
            redis.send_signal(signal.SIGCONT)
            time.sleep(1.2)  # the pause before Redis is tried again
            deadline = time.monotonic() + 5
            while "Redis rate limiting is back" not in gw.data_planes[0].logs():
                assert time.monotonic() < deadline, gw.data_planes[0].logs()[-1500:]
                client.get("/frozen")
                time.sleep(0.1)
        finally:
            gw.stop()


def test_clusters_sharing_one_redis_never_share_a_count(tmp_path: Path) -> None:
    require("Redis", REDIS_HOST, REDIS_PORT)
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        assert gw.control_plane is not None
        backend = gw.add_upstream("alpha")
        redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        endpoint = f"/shared-{uuid.uuid4().hex[:8]}"
        other = f"other-{uuid.uuid4().hex[:6]}"
        with gw.admin() as http:
            http.post("/api/v1/clusters", json={"name": other}).raise_for_status()
            for cluster in (gw.cluster, other):
                params = {"cluster": cluster}
                http.post(
                    "/api/v1/routes", params=params, json={"path": endpoint, "target": backend}
                ).raise_for_status()
                http.put(
                    f"/api/v1/security{endpoint}", params=params, json={"rateLimit": "5/min"}
                ).raise_for_status()
        gw.add_data_plane("dp-mine", "--redis-url", redis_url)
        gw.add_data_plane("dp-other", "--redis-url", redis_url, cluster=other)
        for plane in gw.data_planes:
            wait_until_serving(plane, 2)
        first = [httpx.get(gw.proxy_url(0) + endpoint).status_code for _ in range(7)]
        assert first == [200] * 5 + [429] * 2
        second = [httpx.get(gw.proxy_url(1) + endpoint).status_code for _ in range(7)]
        assert second == [200] * 5 + [429] * 2  # the same client, its own count in that cluster
    finally:
        gw.stop()
