"""Rate limits shared through Redis by several data planes, and what happens when Redis is gone."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.support.gateway import Gateway, wait_until_serving
from tests.support.services import REDIS_HOST, REDIS_PORT, require


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
        with gw.admin() as http:
            answer = http.put(
                f"/api/v1/security{endpoint}",
                params={"cluster": gw.cluster},
                json={"authType": "none", "rateLimit": "10/min"},
            )
            assert answer.status_code == 201, answer.text
        for plane in gw.data_planes:
            wait_until_serving(plane, int(answer.headers["X-AI-Gateway-Revision"]))
        statuses = []
        for _ in range(8):
            statuses.append(httpx.get(gw.proxy_url(0) + endpoint).status_code)
            statuses.append(httpx.get(gw.proxy_url(1) + endpoint).status_code)
        assert statuses.count(200) == 10 and statuses.count(429) == 6, statuses
    finally:
        gw.stop()


def test_redis_down_fails_open_to_the_local_count(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane("dp-a", "--redis-url", "redis://127.0.0.1:9/0")
        gw.add_route(path="/open", target=backend)
        with gw.admin() as http:
            answer = http.put(
                "/api/v1/security/open",
                params={"cluster": gw.cluster},
                json={"authType": "none", "rateLimit": "3/min"},
            )
        wait_until_serving(gw.data_planes[0], int(answer.headers["X-AI-Gateway-Revision"]))
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
        with gw.admin() as http:
            answer = http.put(
                "/api/v1/security/closed",
                params={"cluster": gw.cluster},
                json={"authType": "none", "rateLimit": "3/min"},
            )
        wait_until_serving(gw.data_planes[0], int(answer.headers["X-AI-Gateway-Revision"]))
        refused = httpx.get(gw.proxy_url() + "/closed")
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        gw.add_route(path="/unlimited", target=backend)
        assert httpx.get(gw.proxy_url() + "/unlimited").status_code == 200, (
            "routes without a limit need no Redis"
        )
    finally:
        gw.stop()
