"""Config regexes run in linear time on client input; what RE2 cannot run is refused at the API."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.gateway import Gateway

PATHOLOGICAL = ["(a+)+$", "(a|a)*$", "(a|aa)+$", "(.*a){12}$", "(\\w+\\s?)+$"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("regex"))
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane("dp-regex")
        for index, pattern in enumerate(PATHOLOGICAL):
            gw.add_route(
                name=f"h{index}",
                path=f"/h{index}",
                target=backend,
                headers=[{"name": "x-a", "regex": pattern}],
            )
            gw.add_route(
                name=f"p{index}", path=f"^/p{index}/{pattern}", match="regex", target=backend
            )
        yield gw
    finally:
        gw.stop()


def test_backtracking_patterns_answer_at_once_on_hostile_input(gateway: Gateway) -> None:
    """With a backtracking engine each of these requests would take hours (2^40 steps)."""
    hostile = "a" * 40 + "!"

    def request(index: int) -> tuple[int, int]:
        with httpx.Client(base_url=gateway.proxy_url(), timeout=10) as client:
            by_header = client.get(f"/h{index}", headers={"x-a": hostile}).status_code
            by_path = client.get(f"/p{index}/{hostile}").status_code
        return by_header, by_path

    with ThreadPoolExecutor(len(PATHOLOGICAL)) as pool:
        answers = list(pool.map(request, range(len(PATHOLOGICAL))))
    assert answers == [(404, 404)] * len(PATHOLOGICAL)
    ops = gateway.data_planes[0].ready["ops_port"]
    assert httpx.get(f"http://127.0.0.1:{ops}/healthz", timeout=10).status_code == 200
    # ...and they still match what they should.
    assert httpx.get(gateway.proxy_url() + "/h0", headers={"x-a": "aaaa"}).status_code == 200
    assert httpx.get(gateway.proxy_url() + "/p0/aaaa").status_code == 200


@pytest.mark.parametrize("pattern", ["(a)\\1", "^(?=a)", "(?<!a)b", "a{2000}{2000}"])
def test_a_pattern_re2_cannot_run_is_refused_with_422(gateway: Gateway, pattern: str) -> None:
    params = {"cluster": gateway.cluster}
    with gateway.admin() as http:
        header = http.post(
            "/api/v1/routes",
            params=params,
            json={
                "path": "/x",
                "target": "http://a:1",
                "headers": [{"name": "x", "regex": pattern}],
            },
        )
        path = http.post(
            "/api/v1/routes",
            params=params,
            json={"path": f"^/{pattern}", "match": "regex", "target": "http://a:1"},
        )
    assert header.status_code == 422 and header.json()["error"]["field"] == "headers[0].regex"
    assert path.status_code == 422 and path.json()["error"]["field"] == "path"
