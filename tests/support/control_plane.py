"""Run a real control-plane process on loopback for a test, and stop it by PID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import ChildProcess

API_KEY = "test-admin-key-0123456789abcdef"


@dataclass
class ControlPlaneProcess:
    """One ``ai-gateway-control-plane`` child process, ports chosen by the kernel."""

    workdir: Path
    database_url: str
    cluster: str = "default"
    api_key: str = API_KEY
    extra_args: list[str] = field(default_factory=list)
    admin_port: int = 0
    grpc_port: int = 0
    child: ChildProcess | None = None
    stderr_unread: bool = False  # a log reader that stalled

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 20.0) -> ControlPlaneProcess:
        self.child = ChildProcess(
            f"control-plane-{id(self)}",
            [
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
                "--poll-interval",
                "0.1",
                *self.extra_args,
            ],
            self.workdir,
            env={"AI_GATEWAY_API_KEY": self.api_key},
            stderr_unread=self.stderr_unread,
        ).start(timeout)
        self.admin_port, self.grpc_port = (
            self.child.ready["admin_port"],
            self.child.ready["grpc_port"],
        )
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()

    def client(self, api_key: str | None = None) -> httpx.Client:
        key = self.api_key if api_key is None else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def logs(self) -> str:
        return self.child.logs() if self.child is not None else ""
