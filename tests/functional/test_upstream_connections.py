"""What the upstream half does with its connections: bodies ended by a close, HEAD answers,
idle keep-alive expiry, and pools of backends no route uses any more."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import Gateway
from tests.support.raw_backend import RawBackend, raw_backend

SSE_UNTIL_CLOSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    b"data: one\n\ndata: two\n\ndata: [DONE]\n\n"
)
HTTP10_UNTIL_CLOSE = (
    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'{"x": 1}' * 500
)
HEAD_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\n\r\n"
SMALL = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
def backend() -> Iterator[RawBackend]:
    with raw_backend(
        {
            "/sse": (SSE_UNTIL_CLOSE, True),
            "/old": (HTTP10_UNTIL_CLOSE, True),
            "/head": (HEAD_ANSWER, False),
            "/small": (SMALL, False),
        }
    ) as server:
        yield server


@pytest.fixture
def gateway(tmp_path: Path, backend: RawBackend) -> Iterator[Gateway]:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        gw.add_data_plane("dp-conn", "--upstream-idle-timeout", "0.5")
        gw.add_route(path="/", target=backend.url)
        yield gw
    finally:
        gw.stop()


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_body_that_ends_with_the_connection_is_whole_not_a_reset(
    gateway: Gateway, backend: RawBackend
) -> None:
    with httpx.stream("GET", gateway.proxy_url() + "/sse") as stream:
        text = "".join(stream.iter_text())
    assert text == "data: one\n\ndata: two\n\ndata: [DONE]\n\n"  # no event: error at the end
    old = httpx.get(gateway.proxy_url() + "/old")
    assert old.status_code == 200 and old.content == HTTP10_UNTIL_CLOSE.split(b"\r\n\r\n", 1)[1]
    log = gateway.data_planes[0].logs()
    assert "mid-response" not in log


def test_a_head_answer_keeps_the_connection(gateway: Gateway, backend: RawBackend) -> None:
    with httpx.Client(base_url=gateway.proxy_url()) as client:
        assert client.get("/small").status_code == 200  # opens the kept-alive connection
        opened = backend.opened
        for _ in range(3):
            head = client.head("/head")
            assert head.status_code == 200 and head.headers["Content-Length"] == "1234"
            assert client.get("/small").content == b"{}"
    assert backend.opened == opened  # all on the connection the first request opened
    assert backend.requests[-6:] == ["HEAD /head", "GET /small"] * 3


def test_idle_upstream_connections_expire(gateway: Gateway, backend: RawBackend) -> None:
    assert httpx.get(gateway.proxy_url() + "/small").status_code == 200
    assert backend.open_now == 1
    wait_for(lambda: backend.open_now == 0)  # --upstream-idle-timeout 0.5: closed, unasked


def test_the_pool_of_a_backend_no_route_uses_is_closed(
    gateway: Gateway, backend: RawBackend
) -> None:
    plane = gateway.add_data_plane("dp-long-idle")  # the default idle timeout: 60 s
    with raw_backend({"/small": (SMALL, False)}) as other:
        gateway.add_route(name="b", path="/b", target=other.url, stripPrefix=True)
        with httpx.Client(base_url=f"http://127.0.0.1:{plane.ready['proxy_port']}") as client:
            assert client.get("/b/small").status_code == 200
        assert other.open_now == 1  # kept alive for the next request
        with gateway.admin() as http:
            http.delete("/api/v1/routes/b", params={"cluster": gateway.cluster}).raise_for_status()
        wait_for(lambda: other.open_now == 0)  # no route uses it: its pool is closed
