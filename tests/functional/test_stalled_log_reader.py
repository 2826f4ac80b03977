"""A log reader that stops reading (a stalled shipper) costs log lines, never the gateway."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.control_plane import ControlPlaneProcess
from tests.support.gateway import Gateway, wait_until_serving
from tests.support.processes import ChildProcess, data_plane


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        gw.add_upstream("alpha")
        yield gw
    finally:
        gw.stop()
        for plane in gw.data_planes:
            if plane.process is not None and plane.process.stderr is not None:
                plane.process.stderr.close()


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) * 1024


def metric(plane: ChildProcess, name: str) -> float | None:
    text = httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def load(url: str, requests: int) -> None:
    def run(count: int) -> None:
        with httpx.Client(timeout=10) as client:
            for _ in range(count):
                assert client.get(url).status_code == 200

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(run, requests // 4) for _ in range(4)]:
            done.result()


def test_a_data_plane_whose_stderr_nobody_reads_keeps_serving(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    plane = data_plane(
        gateway.workdir,
        "dp-stalled",
        gateway.control_plane.grpc_target,
        gateway.cluster,
        "--admin-url",
        gateway.control_plane.url,
        "--access-log-buffer",
        "500",
    )
    plane.stderr_unread = True
    plane.start()
    gateway.data_planes.append(plane)
    backend = f"http://127.0.0.1:{gateway.upstreams['alpha'].ready['port']}"
    gateway.add_route(path="/echo", target=backend)
    url = gateway.proxy_url() + "/echo"

    load(url, 1_000)  # far more lines than a pipe holds: the writer is stuck from here on
    assert plane.process is not None
    before = rss_bytes(plane.process.pid)
    load(url, 6_000)
    dropped = metric(plane, "aigw_access_log_dropped_total")
    assert dropped is not None and dropped > 5_000
    assert rss_bytes(plane.process.pid) - before < 8 * 1024 * 1024  # bounded, not per request

    # An application log line ("applied snapshot ...") from the event loop does not freeze it.
    for index in range(3):
        revision = gateway.add_route(path=f"/more-{index}", target=backend)
        wait_until_serving(plane, revision)
        assert httpx.get(gateway.proxy_url() + f"/more-{index}").status_code == 200
    assert metric(plane, "aigw_log_lines_dropped_total") is not None  # counted when it happens


def test_a_control_plane_whose_stderr_nobody_reads_keeps_answering(tmp_path: Path) -> None:
    control = ControlPlaneProcess(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}",
        extra_args=["--log-level", "debug"],  # a line per admin call, and the database's
        stderr_unread=True,
    ).start()
    try:
        cluster = f"c-{uuid.uuid4().hex[:8]}"
        with control.client() as http:
            http.post("/api/v1/clusters", json={"name": cluster}).raise_for_status()
            for index in range(120):  # thousands of debug lines: the pipe is full early on
                created = http.post(
                    "/api/v1/routes",
                    params={"cluster": cluster},
                    json={"path": f"/r{index}", "target": "http://127.0.0.1:9"},
                )
                assert created.status_code == 201, created.text
            assert http.get("/healthz").status_code == 200
            listed = http.get("/api/v1/routes", params={"cluster": cluster}).json()
        assert len(listed["routes"]) == 120
    finally:
        control.stop()
        if control.child is not None and control.child.process is not None:
            assert control.child.process.stderr is not None
            control.child.process.stderr.close()
