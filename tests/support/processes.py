"""Start and stop the test's own child processes (by PID), waiting on a ready file."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ChildProcess:
    name: str
    args: list[str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    executable: str | None = None  # another program than ours: no ready file, the caller waits
    stderr_unread: bool = False  # stderr is a pipe nobody reads: a stalled log shipper
    open_files: tuple[int, int] | None = None  # (soft, hard) RLIMIT_NOFILE the child starts with

    @property
    def ready_file(self) -> Path:
        return self.workdir / f"{self.name}.ready.json"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout: float = 20.0, wait: bool = True) -> ChildProcess:
        self.ready_file.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        command = (
            [self.executable, *self.args]
            if self.executable
            else [sys.executable, *self.args, "--ready-file", str(self.ready_file)]
        )
        self.process = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONPATH": str(ROOT), **self.env},
            stdout=log,
            stderr=subprocess.PIPE if self.stderr_unread else log,
            preexec_fn=self._limit_open_files if self.open_files else None,
            cwd=self.workdir,
        )
        if wait and not self.executable:
            self.wait_ready(timeout)
        return self

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, self.open_files)

    def wait_ready(self, timeout: float = 20.0) -> dict[str, Any]:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.logs()[-3000:]}")
            if self.ready_file.exists():
                self.ready = json.loads(self.ready_file.read_text())
                return self.ready
            time.sleep(0.03)
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

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


def upstream(workdir: Path, name: str = "upstream", *extra: str, **env: str) -> ChildProcess:
    return ChildProcess(
        name,
        [str(ROOT / "tests" / "support" / "upstream_server.py"), *extra],
        workdir,
        env={"UPSTREAM_NAME": name, **env},
    )


def data_plane(
    workdir: Path, name: str, control_plane: str, cluster: str, *extra: str
) -> ChildProcess:
    cache = workdir / f"{name}-cache"
    return ChildProcess(
        name,
        [
            "-m",
            "data_plane",
            "--control-plane",
            control_plane,
            "--cluster",
            cluster,
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--cache-dir",
            str(cache),
            "--node-id",
            name,
            *extra,
        ],
        workdir,
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (the kernel's pick, released): a refused target, or one to bind."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
