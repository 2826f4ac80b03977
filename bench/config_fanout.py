"""The control plane at scale: a 10,000-route cluster, 100 connected data planes.

A real control plane (its own process, SQLite in a temporary directory) and simulated data
planes: discovery streams in this process that ACK each snapshot on receipt. Measured:
how long a 10,000-route apply takes to answer, and how long a one-route change takes from
the moment its REST request is sent until every stream has received it, with the control
plane's CPU time for that change. Run by ``make bench`` after the proxy runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protos import discovery_pb2 as dpb  # noqa: E402

API_KEY = "bench-admin-key-0123456789abcdef"
TARGETS = {"change_ms": 200.0, "apply_s": 1.0}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited top-level fields of a protobuf message (the last of each number):
    enough to read a response's nonce and its snapshot's version without decoding the
    snapshot, which a real data plane does in its own process."""
    found, at = {}, 0
    while at < len(data):
        key, at = _varint(data, at)
        number, kind = key >> 3, key & 7
        if kind == 2:
            length, at = _varint(data, at)
            found[number] = data[at : at + length]
            at += length
        elif kind == 0:
            _, at = _varint(data, at)
        elif kind == 1:
            at += 8
        elif kind == 5:
            at += 4
        else:
            raise ValueError(f"wire type {kind}")
    return found


def version_and_nonce(response: bytes) -> tuple[str, str]:
    fields = _fields(response)
    snapshot = fields.get(1, b"")
    # Snapshot.version is field 2, before the routes: read only the first fields.
    version = _fields(snapshot[: _prefix_end(snapshot)]).get(2, b"")
    return version.decode(), fields.get(2, b"").decode()


def _prefix_end(snapshot: bytes) -> int:
    """Where the snapshot's fields after cluster (1) and version (2) begin."""
    at = 0
    for _ in range(2):
        if at >= len(snapshot):
            break
        key, next_at = _varint(snapshot, at)
        if key >> 3 not in (1, 2):
            break
        length, next_at = _varint(snapshot, next_at)
        at = next_at + length
    return at


class SimulatedDataPlane:
    """One discovery stream: says hello, then ACKs every snapshot as soon as it arrives."""

    def __init__(self, channel: grpc.aio.Channel, cluster: str, index: int) -> None:
        self.node = dpb.Node(id=f"sim-{index}", cluster=cluster, software_version="bench")
        self.received: dict[str, float] = {}  # version -> monotonic time of receipt
        self._outbox: asyncio.Queue[dpb.DiscoveryRequest] = asyncio.Queue()
        # Responses as bytes: the simulated data planes share this process, and decoding 100
        # snapshots here would measure this process instead of the control plane.
        self._stream = channel.stream_stream(
            "/aigw.v1.ConfigDiscovery/StreamSnapshots",
            request_serializer=dpb.DiscoveryRequest.SerializeToString,
            response_deserializer=bytes,
        )
        self.changed = asyncio.Event()

    async def run(self) -> None:
        self._outbox.put_nowait(dpb.DiscoveryRequest(node=self.node))

        async def requests() -> Any:
            while True:
                yield await self._outbox.get()

        async for response in self._stream(requests()):
            version, nonce = version_and_nonce(response)
            self.received.setdefault(version, time.monotonic())
            self._outbox.put_nowait(
                dpb.DiscoveryRequest(version_info=version, response_nonce=nonce)
            )
            self.changed.set()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def routes(count: int, target: str) -> list[dict[str, Any]]:
    return [{"name": f"r{i}", "path": f"/svc-{i}", "target": target} for i in range(count)]


async def wait_all(planes: list[SimulatedDataPlane], revision: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        if all(any(int(v.split("-", 1)[0]) >= revision for v in p.received) for p in planes):
            return
        if time.monotonic() > deadline:
            missing = sum(1 for p in planes if not p.received)
            raise SystemExit(f"not every stream got revision {revision} ({missing} got nothing)")
        await asyncio.sleep(0.001)


def arrival(plane: SimulatedDataPlane, revision: int) -> float:
    return min(t for v, t in plane.received.items() if int(v.split("-", 1)[0]) >= revision)


async def measure(
    args: argparse.Namespace, admin: str, grpc_target: str, pid: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    params = {"cluster": "bench"}
    async with httpx.AsyncClient(base_url=admin, headers=headers, timeout=120) as http:
        document = {"routes": routes(args.routes, "http://127.0.0.1:9")}
        started = time.monotonic()
        answer = await http.post("/api/v1/config", params=params, json=document)
        apply_s = time.monotonic() - started
        answer.raise_for_status()
        channel = grpc.aio.insecure_channel(
            grpc_target, options=[("grpc.max_receive_message_length", 256 << 20)]
        )
        planes = [SimulatedDataPlane(channel, "bench", i) for i in range(args.streams)]
        tasks = [asyncio.create_task(p.run()) for p in planes]
        await wait_all(planes, answer.json()["revision"], 120)
        changes: list[dict[str, float]] = []
        profiler = None
        if args.profile:  # py-spy over the changes only: what a one-route change costs
            profiler = await asyncio.create_subprocess_exec(
                "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                "--output", args.profile, "--nonblocking",
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)
        for index in range(args.changes):
            await asyncio.sleep(0.3)  # the fan-out of the last change is over
            cpu_before = cpu_seconds(pid)
            sent = time.monotonic()
            created = await http.post(
                "/api/v1/routes",
                params=params,
                json={"name": f"added-{index}", "path": f"/added-{index}", "target": "http://127.0.0.1:9"},
            )  # fmt: skip
            answered = time.monotonic()
            created.raise_for_status()
            revision = int(created.headers["X-AI-Gateway-Revision"])
            await wait_all(planes, revision, 60)
            arrivals = sorted(arrival(p, revision) - sent for p in planes)
            changes.append(
                {
                    "answer_ms": (answered - sent) * 1000,
                    "p50_ms": arrivals[len(arrivals) // 2] * 1000,
                    "last_ms": arrivals[-1] * 1000,
                    "cpu_ms": (cpu_seconds(pid) - cpu_before) * 1000,
                }
            )
        if profiler is not None:
            profiler.send_signal(2)
            await asyncio.wait_for(profiler.wait(), 30)
        for task in tasks:
            task.cancel()
        await channel.close()
    median = {k: statistics.median(c[k] for c in changes) for k in changes[0]}
    return {"apply_s": apply_s, "change": median, "changes": changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--profile", help="py-spy the control plane over the changes, to FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aigw-bench-cp-") as workdir:
        ready = Path(workdir) / "ready.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "control_plane", "--listen", "127.0.0.1:0",
             "--grpc-listen", "127.0.0.1:0", "--cluster", "bench",
             "--database-url", f"sqlite+aiosqlite:///{workdir}/cp.db", "--ready-file", str(ready)],
            cwd=ROOT, env={**os.environ, "AI_GATEWAY_API_KEY": API_KEY},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the control plane did not start")
                time.sleep(0.05)
            ports = json.loads(ready.read_text())
            figures = asyncio.run(
                measure(
                    args,
                    f"http://127.0.0.1:{ports['admin_port']}",
                    f"127.0.0.1:{ports['grpc_port']}",
                    process.pid,
                )
            )
            report(args, figures)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print("the control plane did not stop within 30 s of SIGTERM", file=sys.stderr)
                process.kill()
                process.wait(timeout=10)


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(figures))
        return
    change = figures["change"]
    print(
        f"\nControl plane: {args.routes} routes, {args.streams} simulated data planes (median of {args.changes} changes)\n"
    )
    print("| measure | value | target |\n|---|---|---|")
    print(
        f"| {args.routes}-route apply answered | {figures['apply_s']:.2f} s | <= {TARGETS['apply_s']:.0f} s |"
    )
    print(f"| one-route change: REST answer | {change['answer_ms']:.0f} ms | |")
    print(f"| one-route change: p50 stream has it | {change['p50_ms']:.0f} ms | |")
    print(
        f"| one-route change: every stream has it | {change['last_ms']:.0f} ms | <= {TARGETS['change_ms']:.0f} ms |"
    )
    print(f"| control-plane CPU for the change | {change['cpu_ms']:.0f} ms | |")


if __name__ == "__main__":
    main()
