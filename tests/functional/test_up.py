"""``ai-gateway-cli up`` (what ``make run`` runs): the product's usage examples answer as written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_up(
    tmp_path: Path, ports: tuple[int, ...], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``ai-gateway-cli up --demo --config <the demo config>`` on the given ports."""
    proxy, admin, grpc_port, ops, demo = ports
    config = tmp_path / "config.yaml"
    config.write_text(
        (ROOT / "deploy" / "demo" / "config.yaml")
        .read_text()
        .replace("127.0.0.1:8000", f"127.0.0.1:{demo}")
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "up",
            "--demo",
            "--demo-listen",
            f"127.0.0.1:{demo}",
            "--config",
            str(config),
            "--cluster",
            "aimlops",
            "--listen",
            f"127.0.0.1:{proxy}",
            "--admin-listen",
            f"127.0.0.1:{admin}",
            "--grpc-listen",
            f"127.0.0.1:{grpc_port}",
            "--ops-listen",
            f"127.0.0.1:{ops}",
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def up_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_GATEWAY_")}
    env.update(AI_GATEWAY_API_KEY="abc123", AI_GATEWAY_HOME=str(tmp_path / "home"))
    return env


def read_until_up(up: subprocess.Popen[bytes]) -> str:
    """What ``up`` printed until it said it is up (so its config step is behind it)."""
    assert up.stdout is not None
    printed = []
    for line in iter(up.stdout.readline, b""):
        printed.append(line.decode())
        if "ai-gateway is up" in printed[-1]:
            return "".join(printed)
    raise AssertionError("up ended before it was up: " + "".join(printed)[-3000:])


def test_up_runs_the_demo_and_stops_cleanly(tmp_path: Path) -> None:
    ports = tuple(free_port() for _ in range(5))
    proxy, admin, _grpc, _ops, demo = ports
    env = up_env(tmp_path)
    up = start_up(tmp_path, ports, env)
    gateway = f"http://127.0.0.1:{proxy}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                # curl -H "Authorization: Bearer abc123" http://gateway:8080/ml-predict -d '{"input": "data"}'
                answer = httpx.post(
                    gateway + "/ml-predict",
                    content=b'{"input": "data"}',
                    headers={"Authorization": "Bearer abc123"},
                )
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert up.poll() is None, up.communicate()[0].decode()[-3000:]
            assert time.monotonic() < deadline, "the gateway never answered"
            time.sleep(0.1)
        assert answer.json()["input"] == "data"

        with httpx.stream(
            "POST",
            gateway + "/v1/chat/completions",
            json={"stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ) as stream:
            events = [line for line in stream.iter_lines() if line.startswith("data:")]
        assert events[-1] == "data: [DONE]" and len(events) > 2

        # requests.post('http://gateway:8080/api/v1/routes', ...) against the proxy port
        created = httpx.post(
            gateway + "/api/v1/routes",
            params={"cluster": "aimlops"},
            headers={"Authorization": "Bearer abc123"},
            json={"path": "/predict-v2", "target": "http://ai-service:8080"},
        )
        assert created.status_code == 201, created.text

        # ai-gateway-cli metrics --format json: the traffic above, once the data plane reported
        deadline = time.monotonic() + 20
        while True:
            fleet = httpx.get(
                f"http://127.0.0.1:{admin}/api/v1/metrics",
                headers={"Authorization": "Bearer abc123"},
            ).json()
            if fleet["total"]["requests"] >= 2:
                break
            assert time.monotonic() < deadline, fleet
            time.sleep(0.3)
        printed = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "metrics",
                "--format",
                "json",
            ],  # as written in the product's examples: up saved the URL and cluster
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert printed.returncode == 0, printed.stderr
        routes = {r["route"] for r in json.loads(printed.stdout)["routes"]}
        assert {"ml-predict", "openai"} <= routes, printed
    finally:
        up.send_signal(signal.SIGINT)
        output = up.communicate(timeout=30)[0].decode()
    assert up.returncode == 0, output[-3000:]
    assert "4 to create" in output and "ai-gateway is up" in output
    assert "Traceback" not in output
    for port in (proxy, admin, demo):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, (
                f"port {port} still served after up ended"
            )


def test_a_restart_keeps_what_the_user_changed(tmp_path: Path) -> None:
    ports = tuple(free_port() for _ in range(5))
    admin = ports[1]
    env = up_env(tmp_path)
    headers = {"Authorization": "Bearer abc123"}
    params = {"cluster": "aimlops"}
    base = f"http://127.0.0.1:{admin}/api/v1"
    up = start_up(tmp_path, ports, env)
    try:
        assert "to create" in read_until_up(up)  # a new cluster: the demo config is applied
        # The user's own changes: a route, and a policy on a demo endpoint.
        httpx.post(
            base + "/routes", params=params, headers=headers,
            json={"path": "/mine", "target": "http://127.0.0.1:9"},
        ).raise_for_status()  # fmt: skip
        httpx.put(
            base + "/security/ml-predict", params=params, headers=headers,
            json={"authType": "api-key", "rateLimit": "7/min"},
        ).raise_for_status()  # fmt: skip
        before = httpx.get(base + "/config", params=params, headers=headers).json()
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=30)

    up = start_up(tmp_path, ports, env)
    try:
        output = read_until_up(up)
        after = httpx.get(base + "/config", params=params, headers=headers).json()
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=30)
    assert after == before
    assert "was not applied" in output and "ai-gateway-cli apply -f" in output


def test_up_listens_on_loopback_unless_told_otherwise() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "cli", "up", "--help"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "127.0.0.1:8080" in shown.stdout and "0.0.0.0:8080" in shown.stdout
