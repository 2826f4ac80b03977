"""Deadlines as the README states them, 100-continue, and the API through the proxy port."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import Gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("path"))
    try:
        gw.start_control_plane()
        slow_a = gw.add_upstream("slow-a")
        slow_b = gw.add_upstream("slow-b")
        slow_c = gw.add_upstream("slow-c")
        gw.add_data_plane("dp-path")
        gw.add_route(path="/total", target=slow_a, timeouts={"total": 1}, stripPrefix=True)
        gw.add_route(
            path="/per-try",
            target=slow_a,
            retries={"attempts": 1, "perTryTimeout": 0.5},
            stripPrefix=True,
        )
        gw.add_route(
            path="/first-byte",
            targets=[slow_a, slow_b, slow_c],
            timeouts={"firstByte": 1},
            retries={"attempts": 3, "perTryTimeout": 0.8, "onStatuses": [502, 503, 504]},
            stripPrefix=True,
        )
        gw.add_route(path="/echo", target=slow_a)
        yield gw
    finally:
        gw.stop()


def requests_seen(gw: Gateway) -> int:
    return sum(
        int(httpx.get(f"http://127.0.0.1:{p.ready['port']}/stats").json()["requests"])
        for p in gw.upstreams.values()
    )


def test_the_total_timeout_ends_a_slow_answer_and_a_long_stream(gateway: Gateway) -> None:
    slow = httpx.get(gateway.proxy_url() + "/total/slow", params={"delay": "3"}, timeout=10)
    assert slow.status_code == 504
    assert "total timeout of 1s" in slow.json()["error"]["message"]
    with httpx.stream(
        "GET", gateway.proxy_url() + "/total/sse", params={"n": "50", "delay": "0.1"}, timeout=10
    ) as stream:
        assert stream.status_code == 200
        text = "".join(stream.iter_text())
    assert text.count("data: {") < 50  # cut before the end...
    last = text.strip().split("\n\n")[-1]
    assert last.startswith("event: error")  # ...with a well-formed error event
    assert json.loads(last.split("data: ", 1)[1])["error"]["code"] == "upstream_total_timeout"


def test_a_per_try_timeout_says_so(gateway: Gateway) -> None:
    answer = httpx.get(gateway.proxy_url() + "/per-try/slow", params={"delay": "3"}, timeout=10)
    assert answer.status_code == 504
    assert "within 0.5s (perTryTimeout)" in answer.json()["error"]["message"]


def test_the_first_byte_deadline_covers_every_try(gateway: Gateway) -> None:
    before = requests_seen(gateway)
    answer = httpx.get(gateway.proxy_url() + "/first-byte/slow", params={"delay": "3"}, timeout=10)
    assert answer.status_code == 504
    assert "did not answer within 1s" in answer.json()["error"]["message"]
    # 0.8 s for the first try, the 0.2 s left for the second, no third (three targets could).
    assert requests_seen(gateway) - before == 2


def test_expect_100_continue_is_answered(gateway: Gateway) -> None:
    body = b'{"prompt": "hello"}'
    with socket.create_connection(
        ("127.0.0.1", gateway.data_planes[0].ready["proxy_port"]), timeout=10
    ) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body)
        )
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")  # before the body is sent
        sock.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ")
    echoed = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert echoed["body"] == body.decode()
    assert "expect" not in {k.lower() for k in echoed["headers"]}  # not passed on


def test_an_encoded_endpoint_works_through_the_proxy_port(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    headers = {"Authorization": f"Bearer {gateway.control_plane.api_key}"}
    params = {"cluster": gateway.cluster}
    for base in (gateway.control_plane.url, gateway.proxy_url()):
        put = httpx.put(
            base + "/api/v1/security/%2Fpredict",
            params=params,
            headers=headers,
            json={"rateLimit": "100/min"},
        )
        assert put.status_code in (200, 201), (base, put.text)
        got = httpx.get(base + "/api/v1/security/%2Fpredict", params=params, headers=headers)
        assert got.status_code == 200 and got.json()["endpoint"] == "/predict", base
