"""A whole gateway on loopback for a test: control plane, data planes and real backends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.control_plane import ControlPlaneProcess
from tests.support.processes import ROOT, ChildProcess, data_plane, upstream


def dp_version(plane: ChildProcess) -> str | None:
    try:
        answer = httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    version = answer.json().get("version")
    return str(version) if version else None


def wait_until_serving(plane: ChildProcess, revision: int, timeout: float = 5.0) -> float:
    """Wait until the data plane serves ``revision`` or later; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        version = dp_version(plane)
        if version is not None and int(version.split("-", 1)[0]) >= revision:
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"{plane.name} did not reach revision {revision}: {plane.logs()[-2000:]}")


@dataclass
class Gateway:
    workdir: Path
    cluster: str = "aimlops"
    control_plane: ControlPlaneProcess | None = None
    data_planes: list[ChildProcess] = field(default_factory=list)
    upstreams: dict[str, ChildProcess] = field(default_factory=dict)

    def start_control_plane(self, *extra: str) -> ControlPlaneProcess:
        self.control_plane = ControlPlaneProcess(
            self.workdir,
            f"sqlite+aiosqlite:///{self.workdir / 'gateway.db'}",
            cluster=self.cluster,
            extra_args=list(extra),
        ).start()
        return self.control_plane

    def add_model_server(self, name: str, model: str = "", metrics: str = "") -> str:
        """A fake OpenAI/Anthropic model server (tests/support/model_server.py), with the
        ``/metrics`` of a ``metrics`` server (vllm, vllm-old, sglang); its URL."""
        process = ChildProcess(
            name,
            [str(ROOT / "tests" / "support" / "model_server.py")],
            self.workdir,
            env={"MODEL_SERVER_MODEL": model, "MODEL_SERVER_METRICS": metrics},
        ).start()
        self.upstreams[name] = process
        return f"http://127.0.0.1:{process.ready['port']}"

    def add_upstream(self, name: str, *extra: str, scheme: str = "http") -> str:
        process = upstream(self.workdir, name, *extra).start()
        self.upstreams[name] = process
        return f"{scheme}://127.0.0.1:{process.ready['port']}"

    def add_data_plane(
        self,
        name: str,
        *extra: str,
        wait: bool = True,
        cluster: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ChildProcess:
        """A data plane of ``cluster`` (default: the gateway's), ``env`` added to its environment."""
        assert self.control_plane is not None
        admin = ("--admin-url", self.control_plane.url)
        plane = data_plane(
            self.workdir,
            name,
            self.control_plane.grpc_target,
            cluster or self.cluster,
            *admin,
            *extra,
        )
        plane.env.update(env or {})
        plane.start()
        self.data_planes.append(plane)
        if wait:
            wait_until_serving(plane, 0)
        return plane

    def cli(
        self,
        *args: str,
        check_code: int = 0,
        stream: str = "stdout",
        env: dict[str, str] | None = None,
    ) -> str:
        """Run ``ai-gateway-cli`` against this gateway as an operator would, in its working
        directory with ``env`` added to the environment; its stdout (or ``stream``), once it
        exited with ``check_code``."""
        assert self.control_plane is not None
        environment = {
            **os.environ,
            "AI_GATEWAY_URL": self.control_plane.url,
            "AI_GATEWAY_API_KEY": self.control_plane.api_key,
            "AI_GATEWAY_CLUSTER": self.cluster,
            "AI_GATEWAY_HOME": str(self.workdir / "home"),
            "COLUMNS": "200",
            **(env or {}),
        }
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=environment,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == check_code, done.stdout + done.stderr
        return str(getattr(done, stream))

    def proxy_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.data_planes[index].ready['proxy_port']}"

    def admin(self) -> httpx.Client:
        assert self.control_plane is not None
        return self.control_plane.client()

    def write(
        self, method: str, path: str, body: dict[str, Any], ok: tuple[int, ...]
    ) -> httpx.Response:
        """An admin write, answered with one of ``ok``, once every data plane serves it."""
        with self.admin() as http:
            answer = http.request(method, path, params={"cluster": self.cluster}, json=body)
        assert answer.status_code in ok, answer.text
        revision = int(answer.headers["X-AI-Gateway-Revision"])
        for plane in self.data_planes:
            wait_until_serving(plane, revision)
        return answer

    @staticmethod
    def _revision(answer: httpx.Response) -> int:
        return int(answer.headers["X-AI-Gateway-Revision"])

    def add_route(self, **route: Any) -> int:
        """Create a route and wait until every data plane serves it; returns the revision."""
        return self._revision(self.write("POST", "/api/v1/routes", route, (201,)))

    def apply(self, document: dict[str, Any]) -> int:
        """Apply a whole document and wait until every data plane serves it; the revision."""
        return self._revision(self.write("POST", "/api/v1/config", document, (200,)))

    def create_key(self, consumer: str, **body: Any) -> str:
        """An API key of ``consumer`` (made when missing), served by every data plane."""
        answer = self.write("POST", f"/api/v1/consumers/{consumer}/keys", body, (201,))
        return str(answer.json()["key"])

    def secure(self, endpoint: str, **policy: Any) -> int:
        """Set an endpoint's security policy and wait until every data plane serves it."""
        path = f"/api/v1/security/{endpoint.lstrip('/')}"
        return self._revision(self.write("PUT", path, policy, (200, 201)))

    def stop(self) -> None:
        for plane in self.data_planes:
            plane.stop()
        for process in self.upstreams.values():
            process.stop()
        if self.control_plane is not None:
            self.control_plane.stop()
