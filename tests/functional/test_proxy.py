"""Client traffic through a real data plane to real backends."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.support.gateway import Gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("gateway"))
    try:
        gw.start_control_plane()
        gw.add_upstream("alpha")
        gw.add_upstream("beta")
        gw.add_data_plane("dp-main", "--max-body-bytes", "100000")
        yield gw
    finally:
        gw.stop()


def served_by(gateway: Gateway, path: str, method: str = "GET") -> tuple[int, str | None]:
    answer = httpx.request(method, gateway.proxy_url() + path, timeout=10)
    if (
        answer.headers.get("content-type", "").startswith("application/json")
        and answer.status_code == 200
    ):
        return answer.status_code, answer.json().get("server")
    return answer.status_code, None


def raw_request(gateway: Gateway, target: str) -> int:
    """Send a request target exactly as written (clients normalise; attackers do not)."""
    port = gateway.data_planes[0].ready["proxy_port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
        status_line = sock.recv(64).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_routing_precedence_through_the_proxy(gateway: Gateway) -> None:
    alpha, beta = gateway.upstreams["alpha"].ready["port"], gateway.upstreams["beta"].ready["port"]
    gateway.add_route(name="p-prefix", path="/prec", target=f"http://127.0.0.1:{alpha}")
    gateway.add_route(
        name="p-exact", path="/prec/exact", match="exact", target=f"http://127.0.0.1:{beta}"
    )
    gateway.add_route(
        name="p-regex", path=r"/rx/[0-9]+", match="regex", target=f"http://127.0.0.1:{beta}"
    )
    gateway.add_route(
        name="p-post", path="/only-post", methods=["POST"], target=f"http://127.0.0.1:{alpha}"
    )
    assert served_by(gateway, "/prec/x") == (200, "alpha")
    assert served_by(gateway, "/prec/exact") == (200, "beta")
    assert served_by(gateway, "/prec/exact/more") == (200, "alpha")
    assert served_by(gateway, "/rx/42") == (200, "beta")
    assert served_by(gateway, "/rx/abc")[0] == 404
    assert served_by(gateway, "/precision")[0] == 404
    assert served_by(gateway, "/only-post", "POST") == (200, "alpha")
    answer = httpx.get(gateway.proxy_url() + "/only-post")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_path_tricks_meet_the_canonical_decision(gateway: Gateway) -> None:
    """`/open/../secured`-style paths are decided as their canonical form, or refused."""
    alpha, beta = gateway.upstreams["alpha"].ready["port"], gateway.upstreams["beta"].ready["port"]
    gateway.add_route(name="n-open", path="/n/open", target=f"http://127.0.0.1:{alpha}")
    gateway.add_route(name="n-secured", path="/n/secured", target=f"http://127.0.0.1:{beta}")
    assert raw_request(gateway, "/n/secured") == 200
    for trick in [
        "/n//secured",
        "/n/open/../secured",
        "/n/open/%2e%2e/secured",
        "/n/./secured",
        "/n/%73ecured",
        "//n/secured",
    ]:
        answer = httpx.get(gateway.proxy_url() + "/echo", timeout=5)  # warm the pool
        assert answer.status_code == 404
        port = gateway.data_planes[0].ready["proxy_port"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {trick} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), trick
        assert b'"server": "beta"' in data and b'"path": "/n/secured"' in data, trick
    for refused in [
        "/n/open%2F..%2Fsecured",
        "/n/open%2fsecured",
        "/n/open%5c..%5csecured",
        "/n/%00secured",
    ]:
        assert raw_request(gateway, refused) == 400, refused
    assert raw_request(gateway, "/N/SECURED") == 404
    assert raw_request(gateway, "/n/secured;x=1") == 404


def test_headers_going_up_and_coming_back(gateway: Gateway) -> None:
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(name="h", path="/h", target=f"http://127.0.0.1:{alpha}")
    answer = httpx.get(
        gateway.proxy_url() + "/h/x?q=1&q=2",
        headers={
            "X-Request-Id": "req-123",
            "X-Forwarded-For": "10.1.1.1",
            "Keep-Alive": "timeout=5",
            "Connection": "keep-alive, X-Private",
            "X-Private": "secret",
            "X-Custom": "kept",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["X-Request-Id"] == "req-123"
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert seen["x-request-id"] == "req-123" and seen["x-custom"] == "kept"
    assert seen["x-forwarded-for"] == "10.1.1.1, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert "keep-alive" not in seen and "x-private" not in seen
    assert answer.json()["query"] == "q=1&q=2"
    generated = httpx.get(gateway.proxy_url() + "/h").headers["X-Request-Id"]
    assert len(generated) == 32


def test_non_ascii_response_headers_pass_byte_for_byte(gateway: Gateway) -> None:
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(name="unicode", path="/unicode-header", target=f"http://127.0.0.1:{alpha}")
    direct = httpx.get(f"http://127.0.0.1:{alpha}/unicode-header")
    proxied = httpx.get(gateway.proxy_url() + "/unicode-header")
    raw = dict(proxied.headers.raw)
    assert raw[b"X-Model-Name"] == dict(direct.headers.raw)[b"X-Model-Name"]
    assert raw[b"X-Model-Name"] == "Mistral-café-7B".encode()


def test_request_bodies_stream_up_to_the_limit(gateway: Gateway) -> None:
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(name="body", path="/body", target=f"http://127.0.0.1:{alpha}")
    small = httpx.post(gateway.proxy_url() + "/body", content=b"x" * 1000)
    assert small.json()["body_length"] == 1000
    chunked = httpx.post(gateway.proxy_url() + "/body", content=iter([b"y" * 30_000] * 3))
    assert chunked.json()["body_length"] == 90_000
    too_big = httpx.post(gateway.proxy_url() + "/body", content=b"z" * 100_001)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"
    too_big_chunked = httpx.post(gateway.proxy_url() + "/body", content=iter([b"w" * 40_000] * 3))
    assert too_big_chunked.status_code == 413


async def test_sse_arrives_event_by_event(gateway: Gateway) -> None:
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(name="sse", path="/sse", target=f"http://127.0.0.1:{alpha}")
    arrivals: list[float] = []
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(gateway.proxy_url() + "/sse?n=5&delay=0.3") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream"
            async for line in response.content:
                if line.startswith(b"data:"):
                    arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 6
    assert arrivals[0] < 0.25, "the first event waited for the others"
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap > 0.15 for gap in gaps[:4]), f"events were batched: {arrivals}"


def test_upstream_down_is_502_and_slow_is_504(gateway: Gateway) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(name="down", path="/down", target=f"http://127.0.0.1:{closed_port}")
    gateway.add_route(
        name="slow", path="/slow", target=f"http://127.0.0.1:{alpha}", timeouts={"firstByte": 0.5}
    )
    down = httpx.get(gateway.proxy_url() + "/down")
    assert down.status_code == 502 and down.json()["error"]["code"] == "upstream_unreachable"
    started = time.monotonic()
    slow = httpx.get(gateway.proxy_url() + "/slow?delay=3", timeout=10)
    elapsed = time.monotonic() - started
    assert slow.status_code == 504 and slow.json()["error"]["code"] == "upstream_timeout"
    assert 0.5 <= elapsed < 2.0, f"504 after {elapsed:.3f}s for a 0.5 s first-byte timeout"
    assert httpx.get(gateway.proxy_url() + "/slow?delay=0.1").status_code == 200


async def test_stall_mid_stream_is_cut_at_the_idle_timeout(gateway: Gateway) -> None:
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(
        name="stall", path="/stall", target=f"http://127.0.0.1:{alpha}", timeouts={"idle": 0.5}
    )
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.proxy_url() + "/stall?after=2") as response,
    ):
        assert response.status == 200
        lines = [line.strip() async for line in response.content if line.strip()]
    assert lines[:2] == [b"data: 0", b"data: 1"]
    assert lines[2] == b"event: error" and b"upstream_idle_timeout" in lines[3]
    assert 0.5 <= time.monotonic() - started < 2.0


async def test_client_disconnect_frees_the_upstream_request(gateway: Gateway) -> None:
    alpha = gateway.upstreams["alpha"].ready["port"]
    gateway.add_route(name="hold", path="/hold", target=f"http://127.0.0.1:{alpha}")
    stats_url = f"http://127.0.0.1:{alpha}/stats"
    before = httpx.get(stats_url).json()
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", gateway.data_planes[0].ready["proxy_port"]
    )
    writer.write(b"GET /hold HTTP/1.1\r\nHost: gw\r\n\r\n")
    await writer.drain()
    deadline = time.monotonic() + 5
    while httpx.get(stats_url).json()["held"] == before["held"]:
        assert time.monotonic() < deadline, "the request never reached the backend"
        await asyncio.sleep(0.02)
    writer.close()
    await writer.wait_closed()
    while httpx.get(stats_url).json()["released"] == before["released"]:
        assert time.monotonic() < deadline, "the backend request outlived the client"
        await asyncio.sleep(0.02)
    assert httpx.get(stats_url).json()["held"] == before["held"]
    assert "Traceback" not in gateway.data_planes[0].logs()


def test_admin_api_is_forwarded_from_the_proxy_port(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    headers = {"Authorization": f"Bearer {gateway.control_plane.api_key}"}
    answer = httpx.post(
        gateway.proxy_url() + "/api/v1/routes",
        params={"cluster": gateway.cluster},
        headers=headers,
        json={"path": "/via-proxy", "target": "http://ai-service:8080"},
    )
    assert answer.status_code == 201, answer.text
    assert httpx.get(gateway.proxy_url() + "/api/v1/routes").status_code == 401


def test_ops_endpoints(gateway: Gateway) -> None:
    ops = f"http://127.0.0.1:{gateway.data_planes[0].ready['ops_port']}"
    assert httpx.get(ops + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(ops + "/readyz").json()
    assert (
        ready["ready"] is True and ready["cluster"] == "aimlops" and ready["controlPlaneConnected"]
    )
    assert httpx.get(ops + "/metrics").status_code == 200


def test_not_ready_without_any_config(tmp_path: Path) -> None:
    """No control plane and no cache: /readyz is 503 and traffic gets a clear 503."""
    gw = Gateway(tmp_path)
    from tests.support.processes import data_plane

    plane = data_plane(tmp_path, "lonely", "127.0.0.1:9", "aimlops", "--no-api-forward").start()
    try:
        ops = f"http://127.0.0.1:{plane.ready['ops_port']}"
        assert httpx.get(ops + "/readyz").status_code == 503
        answer = httpx.get(f"http://127.0.0.1:{plane.ready['proxy_port']}/predict")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "not_ready"
        assert (
            httpx.get(f"http://127.0.0.1:{plane.ready['proxy_port']}/api/v1/routes").status_code
            == 503
        )
    finally:
        plane.stop()
        gw.stop()
