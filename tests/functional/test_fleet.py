"""Several data planes, a control plane that comes and goes, and the cache on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import Gateway, wait_until_serving
from tests.support.processes import ROOT


def test_a_cli_change_reaches_three_data_planes_within_a_second(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        plane = gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        for index in range(3):
            gw.add_data_plane(f"dp-{index}")
        env = {
            **os.environ,
            "AI_GATEWAY_URL": plane.url,
            "AI_GATEWAY_API_KEY": plane.api_key,
            "AI_GATEWAY_HOME": str(tmp_path / "home"),
            "AI_GATEWAY_CLUSTER": gw.cluster,
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "add-route",
                "--path",
                "/ml-predict",
                "--target",
                backend,
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        changed_at = time.monotonic()
        assert "route ml-predict created" in done.stdout
        served_after: dict[int, float] = {}

        def watch(index: int) -> None:
            with httpx.Client(base_url=gw.proxy_url(index)) as client:
                while time.monotonic() - changed_at < 5:
                    if client.post("/ml-predict", json={"input": "data"}).status_code == 200:
                        served_after[index] = time.monotonic() - changed_at
                        return
                    time.sleep(0.005)

        watchers = [threading.Thread(target=watch, args=(i,)) for i in range(3)]
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.join()
        assert sorted(served_after) == [0, 1, 2] and max(served_after.values()) < 1.0, served_after
        with gw.admin() as http:
            fleet = http.get("/api/v1/dataplanes", params={"cluster": gw.cluster}).json()[
                "dataplanes"
            ]
        assert sorted(d["nodeId"] for d in fleet) == ["dp-0", "dp-1", "dp-2"]
    finally:
        gw.stop()


def test_killing_the_control_plane_under_load_loses_no_request(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane("dp-0")
        gw.add_route(path="/predict", target=backend)
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=gw.proxy_url(), timeout=10) as client:
                while not stop.is_set():
                    statuses[client.post("/predict", json={"input": "data"}).status_code] += 1

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        assert gw.control_plane is not None
        gw.control_plane.kill()
        time.sleep(1.5)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        assert statuses[200] > 50 and set(statuses) == {200}, statuses
    finally:
        gw.stop()


def test_a_restarted_data_plane_serves_from_its_cache_while_the_control_plane_is_down(
    tmp_path: Path,
) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        plane = gw.add_data_plane("dp-0")
        gw.add_route(path="/predict", target=backend)
        assert gw.control_plane is not None
        gw.control_plane.kill()
        plane.stop()
        plane.start()
        wait_until_serving(plane, 1)
        answer = httpx.post(gw.proxy_url() + "/predict", json={"input": "data"})
        assert answer.status_code == 200
        assert "serving cached snapshot" in plane.logs()
        ready = httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/readyz").json()
        assert ready["ready"] is True and ready["controlPlaneConnected"] is False

        # The control plane comes back: the data plane reconnects and takes new changes.
        gw.control_plane.start()
        deadline = time.monotonic() + 15  # the reconnect backoff is capped at 10 s
        ops = f"http://127.0.0.1:{plane.ready['ops_port']}/readyz"
        while not httpx.get(ops).json()["controlPlaneConnected"]:
            assert time.monotonic() < deadline, plane.logs()[-2000:]
            time.sleep(0.05)
        gw.add_route(path="/chat", target=backend)
        assert httpx.post(gw.proxy_url() + "/chat").status_code == 200
    finally:
        gw.stop()


def test_a_corrupt_cache_file_is_reported_and_not_used(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        plane = gw.add_data_plane("dp-0")
        gw.add_route(path="/predict", target=backend)
        assert gw.control_plane is not None
        gw.control_plane.kill()
        plane.stop()
        cache = tmp_path / "dp-0-cache" / "snapshot-aimlops.bin"
        data = bytearray(cache.read_bytes())
        data[-1] ^= 0xFF
        cache.write_bytes(bytes(data))
        plane.start()
        assert "checksum mismatch" in plane.logs()
        assert httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/readyz").status_code == 503
    finally:
        gw.stop()


def test_workers_share_the_listen_port(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        plane = gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        with gw.admin() as http:
            http.post(
                "/api/v1/routes",
                params={"cluster": gw.cluster},
                json={"path": "/predict", "target": backend},
            ).raise_for_status()
        # Fixed ports: workers bind the same address with SO_REUSEPORT.
        import socket

        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            b.bind(("127.0.0.1", 0))
            proxy_port, ops_port = a.getsockname()[1], b.getsockname()[1]
        from tests.support.processes import ChildProcess

        workers = ChildProcess(
            "dp-workers",
            [
                "-m",
                "data_plane",
                "--control-plane",
                plane.grpc_target,
                "--cluster",
                gw.cluster,
                "--listen",
                f"127.0.0.1:{proxy_port}",
                "--ops-listen",
                f"127.0.0.1:{ops_port}",
                "--cache-dir",
                str(tmp_path / "wcache"),
                "--node-id",
                "dpw",
                "--workers",
                "2",
            ],
            tmp_path,
        ).start()
        gw.data_planes.append(workers)
        deadline = time.monotonic() + 10
        while True:
            with gw.admin() as http:
                fleet = http.get("/api/v1/dataplanes", params={"cluster": gw.cluster}).json()[
                    "dataplanes"
                ]
            if sorted(d["nodeId"] for d in fleet if d["connected"]) == ["dpw-w0", "dpw-w1"]:
                break
            assert time.monotonic() < deadline, fleet
            time.sleep(0.05)
        for _ in range(20):
            assert httpx.post(f"http://127.0.0.1:{proxy_port}/predict").status_code == 200
        served = []
        for _ in range(6):  # each scrape may reach either worker: each shows both
            text = httpx.get(f"http://127.0.0.1:{ops_port}/metrics").text
            counts = {
                (sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
            by_route = frozenset(
                {"route": "predict", "method": "POST", "status_class": "2xx"}.items()
            )
            served.append(counts[("aigw_requests_total", by_route)])
            healthy = frozenset({"target": backend, "state": "healthy"}.items())
            assert counts[("aigw_target_healthy", healthy)] == 1.0
        assert served == [20.0] * 6
    finally:
        gw.stop()


def test_a_log_level_change_reaches_every_data_plane_within_a_second(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        planes = [gw.add_data_plane(f"dp-{i}") for i in range(2)]

        def levels() -> list[str]:
            return [
                httpx.get(f"http://127.0.0.1:{p.ready['ops_port']}/readyz").json()["logLevel"]
                for p in planes
            ]

        assert levels() == ["info", "info"]
        for level in ("debug", "info"):
            gw.cli("config", "--log-level", level)
            changed = time.monotonic()
            while levels() != [level, level]:
                assert time.monotonic() - changed < 1.0, levels()
                time.sleep(0.02)
        assert gw.control_plane is not None
        debug_lines = [line for line in gw.control_plane.logs().splitlines() if '"DEBUG"' in line]
        assert any("/api/v1/settings" in line for line in debug_lines), "the control plane followed"
        count = len(debug_lines)
        with gw.admin() as http:
            http.get("/api/v1/routes").raise_for_status()
        after = [line for line in gw.control_plane.logs().splitlines() if '"DEBUG"' in line]
        assert len(after) == count, "back at info, the control plane logs no debug lines"
    finally:
        gw.stop()
