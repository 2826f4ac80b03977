"""Run a real control-plane process on loopback for a test, and stop it by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

API_KEY = "test-admin-key-0123456789abcdef"


@dataclass
class ControlPlaneProcess:
    """One ``ai-gateway-control-plane`` child process, ports chosen by the kernel."""

    workdir: Path
    database_url: str
    cluster: str = "default"
    api_key: str = API_KEY
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    admin_port: int = 0
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"control-plane-{id(self)}.log"

    def start(self, timeout: float = 20.0) -> ControlPlaneProcess:
        ready = self.workdir / f"ready-{id(self)}.json"
        ready.unlink(missing_ok=True)
        env = {**os.environ, "AI_GATEWAY_API_KEY": self.api_key}
        args = [
            sys.executable,
            "-m",
            "control_plane",
            # A restart keeps the ports, as a real deployment's address stays put.
            "--listen",
            f"127.0.0.1:{self.admin_port}",
            "--grpc-listen",
            f"127.0.0.1:{self.grpc_port}",
            "--database-url",
            self.database_url,
            "--cluster",
            self.cluster,
            "--ready-file",
            str(ready),
            "--poll-interval",
            "0.1",
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=log, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"control plane exited: {self.log_path.read_text()[-2000:]}")
            if ready.exists():
                ports = json.loads(ready.read_text())
                self.admin_port, self.grpc_port = ports["admin_port"], ports["grpc_port"]
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"control plane not ready in {timeout}s: {self.log_path.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def client(self, api_key: str | None = None) -> httpx.Client:
        key = self.api_key if api_key is None else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
