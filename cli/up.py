"""``ai-gateway-cli up``: a control plane (SQLite) and a data plane on this machine, for a laptop or a demo.

The processes are children of this command, started in order and stopped
(by PID, in reverse order) when it ends or one of them dies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The model services the product's examples name: with --demo, the data plane connects each
# of them to the demo model service (--connect-to), so the examples run as written.
DEMO_SERVICES = ("ai-service:8080", "llm-service:5000", "model-service:8000")


class StartFailed(Exception):
    pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass(frozen=True)
class UpOptions:
    cluster: str
    api_key: str
    listen: str
    admin_listen: str
    grpc_listen: str
    ops_listen: str
    database_url: str
    cache_dir: str
    demo: bool
    demo_listen: str


def _start(
    name: str, module: str, args: list[str], ready_dir: Path, env: dict[str, str]
) -> tuple[Child, dict[str, Any]]:
    ready = ready_dir / f"{name}.json"
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args, "--ready-file", str(ready)], env=env
    )
    child = Child(name, process)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if process.poll() is not None:
            raise StartFailed(
                f"the {name} exited with code {process.returncode}; see its log above"
            )
        if time.monotonic() > deadline:
            child.stop()
            raise StartFailed(f"the {name} did not start within 30 s")
        time.sleep(0.05)
    return child, json.loads(ready.read_text())


@contextmanager
def running(options: UpOptions) -> Iterator[list[Child]]:
    """Start the demo backend (optional), the control plane and the data plane; stop them after."""
    env = {**os.environ, "AI_GATEWAY_API_KEY": options.api_key}
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="ai-gateway-up-") as ready_dir:
        try:
            if options.demo:
                children.append(
                    _start(
                        "demo model service",
                        "cli.demo_backend",
                        ["--listen", options.demo_listen],
                        Path(ready_dir),
                        env,
                    )[0]
                )
            child, ports = _start(
                "control plane",
                "control_plane",
                [
                    "--cluster",
                    options.cluster,
                    "--listen",
                    options.admin_listen,
                    "--grpc-listen",
                    options.grpc_listen,
                    "--database-url",
                    options.database_url,
                    # The data plane forwards /api/v1 from this machine: its X-Forwarded-For
                    # names the client whose wrong keys are throttled.
                    "--trusted-proxies",
                    "127.0.0.1/32,::1/128",
                ],
                Path(ready_dir),
                env,
            )
            children.append(child)
            admin_host = options.admin_listen.rpartition(":")[0] or "127.0.0.1"
            admin_host = "127.0.0.1" if admin_host in ("0.0.0.0", "") else admin_host
            grpc_host = options.grpc_listen.rpartition(":")[0] or "127.0.0.1"
            grpc_host = "127.0.0.1" if grpc_host in ("0.0.0.0", "") else grpc_host
            children.append(
                _start(
                    "data plane",
                    "data_plane",
                    [
                        "--cluster",
                        options.cluster,
                        "--control-plane",
                        f"{grpc_host}:{ports['grpc_port']}",
                        "--listen",
                        options.listen,
                        "--ops-listen",
                        options.ops_listen,
                        "--admin-url",
                        f"http://{admin_host}:{ports['admin_port']}",
                        "--cache-dir",
                        options.cache_dir,
                        *_demo_services(options),
                    ],
                    Path(ready_dir),
                    env,
                )[0]
            )
            yield children
        finally:
            for started in reversed(children):
                started.stop()


def _demo_services(options: UpOptions) -> list[str]:
    if not options.demo:
        return []
    host, _, port = options.demo_listen.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    return ["--connect-to", ",".join(f"{name}:{host}:{port}" for name in DEMO_SERVICES)]


def wait_for_exit(children: list[Child]) -> int:
    """Block until SIGINT/SIGTERM or a child's death; the exit code to return."""
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for child in children:
            if child.process.poll() is not None:
                print(
                    f"Error: the {child.name} exited with code {child.process.returncode}",
                    file=sys.stderr,
                )
                return 1
        time.sleep(0.2)
    return 0
