"""Slow and idle clients cannot hold the proxy: head and idle timeouts, a connection cap."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import Gateway, wait_until_serving
from tests.support.processes import ChildProcess, data_plane


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("connections"))
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_route(path="/echo", target=backend)
        yield gw
    finally:
        gw.stop()


def start_plane(gw: Gateway, name: str, open_files: tuple[int, int], *extra: str) -> ChildProcess:
    assert gw.control_plane is not None
    plane = data_plane(
        gw.workdir, name, gw.control_plane.grpc_target, gw.cluster, "--no-access-log", *extra
    )
    plane.open_files = open_files
    plane.start()
    gw.data_planes.append(plane)
    wait_until_serving(plane, 1)
    return plane


def metrics(plane: ChildProcess) -> str:
    return httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/metrics", timeout=5).text


def counter(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def soft_open_files(pid: int) -> int:
    limits = Path(f"/proc/{pid}/limits").read_text()
    match = re.search(r"Max open files\s+(\d+)", limits)
    assert match is not None
    return int(match.group(1))


def test_the_open_files_limit_is_raised_to_the_hard_limit(gateway: Gateway) -> None:
    plane = start_plane(gateway, "dp-limits", (1024, 4096))
    assert plane.process is not None
    assert soft_open_files(plane.process.pid) == 4096


def test_a_thousand_slowloris_sockets_do_not_starve_real_clients(gateway: Gateway) -> None:
    # The worst case of the common default: 1024 descriptors and no way to raise them.
    plane = start_plane(gateway, "dp-slowloris", (1024, 1024), "--request-head-timeout", "1")
    port = plane.ready["proxy_port"]
    slow: list[socket.socket] = []
    try:
        for _ in range(1_000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
            slow.append(sock)

        def normal(index: int) -> int:
            return httpx.get(
                f"http://127.0.0.1:{port}/echo/{index}", timeout=30, headers={"Connection": "close"}
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(normal, range(31)))
        assert statuses == [200] * 31
        assert httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/healthz").status_code == 200

        answered = 0
        for sock in slow[:20]:  # accepted ones got a 408 before the close
            sock.settimeout(10)
            reply = sock.recv(4096)
            answered += reply.startswith(b"HTTP/1.1 408 ")
        assert answered > 0
    finally:
        for sock in slow:
            sock.close()
    seen = metrics(plane)
    assert counter(seen, 'aigw_client_timeouts_total{timeout="request_head"}') >= answered
    assert counter(seen, "aigw_client_accept_pauses_total") >= 1


def test_idle_connections_are_closed_after_the_keepalive_timeout(gateway: Gateway) -> None:
    plane = start_plane(
        gateway, "dp-idle", (4096, 4096), "--keepalive-timeout", "0.5", "--max-connections", "8"
    )
    port = plane.ready["proxy_port"]
    idle = []
    for _ in range(8):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.append(sock)
    try:
        for sock in idle:
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200 ")
        for sock in idle:  # each is closed by the gateway (recv sees the end, not a timeout)
            while sock.recv(65536):
                pass
        # The cap of 8 was reached; closing them made room again.
        assert httpx.get(f"http://127.0.0.1:{port}/echo", timeout=10).status_code == 200
    finally:
        for sock in idle:
            sock.close()
    assert counter(metrics(plane), 'aigw_client_timeouts_total{timeout="idle"}') >= 8
