"""The control plane at scale: a 10,000-route cluster and fleets of 10, 100 and 1,000 data planes.

A real control plane (its own process, SQLite in a temporary directory) and simulated data
planes: discovery streams, each on its own connection, in child processes of 100 streams,
that take deltas and ACK each response on receipt. Measured: how long a 10,000-route apply
takes to answer; then per fleet, how long a one-route change takes from the moment its REST
request is sent (and from its answer) until the streams have received it, with the control
plane's CPU for that change (its idle polling taken out) and the bytes each stream got; and
a re-apply that changes every route. Run by ``make bench`` after the proxy runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    """The version a response carries, whole (field 1) or as a delta (field 3, its head)."""
    fields = _fields(response)
    nonce = fields.get(2, b"").decode()
    if 3 in fields:
        head = _fields(_fields(fields[3]).get(2, b""))
        return head.get(2, b"").decode(), nonce
    snapshot = fields.get(1, b"")
    # Snapshot.version is field 2, before the routes: read only the first fields.
    version = _fields(snapshot[: _prefix_end(snapshot)]).get(2, b"")
    return version.decode(), nonce


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
    """One discovery stream on its own connection: says hello (taking deltas, as a data
    plane does), then ACKs every response as soon as it arrives and reports its receipt."""

    def __init__(self, target: str, cluster: str, index: int, report: Any) -> None:
        self.node = dpb.Node(id=f"sim-{index}", cluster=cluster, software_version="bench")
        self.index, self._report = index, report
        self._outbox: asyncio.Queue[dpb.DiscoveryRequest] = asyncio.Queue()
        self._channel = grpc.aio.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 256 << 20)]
        )
        # Responses as bytes: decoding whole snapshots here would measure this process.
        self._stream = self._channel.stream_stream(
            "/aigw.v1.ConfigDiscovery/StreamSnapshots",
            request_serializer=dpb.DiscoveryRequest.SerializeToString,
            response_deserializer=bytes,
        )

    async def run(self) -> None:
        self._outbox.put_nowait(dpb.DiscoveryRequest(node=self.node, accepts_delta=True))

        async def requests() -> Any:
            while True:
                yield await self._outbox.get()

        try:
            async for response in self._stream(requests()):
                version, nonce = version_and_nonce(response)
                self._report(self.index, version, time.monotonic(), len(response))
                self._outbox.put_nowait(
                    dpb.DiscoveryRequest(version_info=version, response_nonce=nonce)
                )
        finally:
            await self._channel.close()


async def simulate(target: str, cluster: str, first: int, count: int) -> None:
    """A child process's share of the fleet; each receipt a JSON line on stdout (the
    parent's clock is the same: CLOCK_MONOTONIC is system-wide)."""

    def report(index: int, version: str, at: float, size: int) -> None:
        sys.stdout.write(json.dumps([index, version, at, size]) + "\n")
        sys.stdout.flush()

    planes = [SimulatedDataPlane(target, cluster, first + i, report) for i in range(count)]
    await asyncio.gather(*(p.run() for p in planes))


class Fleet:
    """N simulated data planes in separate processes, 100 streams each at most."""

    def __init__(self, target: str, cluster: str, streams: int) -> None:
        self._target, self._cluster, self.streams = target, cluster, streams
        self.received: dict[int, dict[str, float]] = {i: {} for i in range(streams)}
        self.bytes_received = 0
        self._children: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        share = min(100, self.streams)
        for first in range(0, self.streams, share):
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--simulate", str(min(share, self.streams - first)),
                "--first", str(first), "--grpc", self._target, "--cluster", self._cluster,
                stdout=subprocess.PIPE, limit=1 << 20,
            )  # fmt: skip
            self._children.append(child)
            self._readers.append(asyncio.create_task(self._read(child)))

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        async for line in child.stdout:
            index, version, at, size = json.loads(line)
            self.received[index].setdefault(version, at)
            self.bytes_received += size

    def has(self, revision: int) -> int:
        """How many streams have received ``revision`` or a later one."""
        return sum(
            1 for got in self.received.values() if any(_revision(v) >= revision for v in got)
        )

    async def wait_all(self, revision: int, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while self.has(revision) < self.streams:
            if time.monotonic() > deadline or any(c.returncode is not None for c in self._children):
                raise SystemExit(
                    f"{self.streams - self.has(revision)} of {self.streams} streams did not "
                    f"get revision {revision} within {within_s:.0f} s"
                )
            await asyncio.sleep(0.002)

    def arrivals(self, revision: int, since: float) -> list[float]:
        return sorted(
            min(t for v, t in got.items() if _revision(v) >= revision) - since
            for got in self.received.values()
        )

    async def stop(self) -> None:
        for child in self._children:
            if child.returncode is None:
                child.terminate()
        for child in self._children:
            await child.wait()
        for reader in self._readers:
            reader.cancel()


def _revision(version: str) -> int:
    return int(version.split("-", 1)[0])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def routes(count: int, target: str) -> list[dict[str, Any]]:
    return [{"name": f"r{i}", "path": f"/svc-{i}", "target": target} for i in range(count)]


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


async def measure_fleet(
    args: argparse.Namespace,
    http: httpx.AsyncClient,
    grpc_target: str,
    pid: int,
    streams: int,
    current: int,
) -> dict[str, Any]:
    """One fleet size: its first snapshot, one-route changes, then a change of every route."""
    fleet = Fleet(grpc_target, "bench", streams)
    connected = time.monotonic()
    await fleet.start()
    try:
        return await _changes(args, http, fleet, pid, current, connected)
    finally:
        await fleet.stop()


async def _changes(
    args: argparse.Namespace,
    http: httpx.AsyncClient,
    fleet: Fleet,
    pid: int,
    current: int,
    connected: float,
) -> dict[str, Any]:
    params, streams = {"cluster": "bench"}, fleet.streams
    await fleet.wait_all(current, 300)
    first_s = time.monotonic() - connected
    await asyncio.sleep(1.0)  # its ACKs recorded; then what the fleet costs with no change
    before, idle_since = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(3.0)
    idle_cpu_per_s = (cpu_seconds(pid) - before) / (time.monotonic() - idle_since)
    changes: list[dict[str, float]] = []
    profiler = None
    if args.profile and streams == args.streams[-1]:  # the largest fleet's one-route changes
        profiler = await asyncio.create_subprocess_exec(
            "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
            "--output", args.profile, "--nonblocking", "--threads",
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
            json={"name": f"added-{streams}-{index}", "path": f"/added-{streams}-{index}",
                  "target": "http://127.0.0.1:9"},
        )  # fmt: skip
        answered = time.monotonic()
        created.raise_for_status()
        revision = int(created.headers["X-AI-Gateway-Revision"])
        bytes_before = fleet.bytes_received
        await fleet.wait_all(revision, 120)
        arrivals = fleet.arrivals(revision, sent)
        after_answer = fleet.arrivals(revision, answered)
        await asyncio.sleep(0.3)  # the ACKs are recorded: part of the change's cost
        polling = idle_cpu_per_s * (time.monotonic() - sent)  # what it spends unchanged
        changes.append(
            {
                "answer_ms": (answered - sent) * 1000,
                "p50_ms": percentile(arrivals, 0.5) * 1000,
                "p99_ms": percentile(arrivals, 0.99) * 1000,
                "last_ms": arrivals[-1] * 1000,
                "p99_after_answer_ms": percentile(after_answer, 0.99) * 1000,
                "cpu_ms": (cpu_seconds(pid) - cpu_before - polling) * 1000,
                "bytes_per_stream": (fleet.bytes_received - bytes_before) / streams,
            }
        )
    if profiler is not None:
        profiler.send_signal(2)
        await asyncio.wait_for(profiler.wait(), 30)
    await asyncio.sleep(0.3)
    cpu_before = cpu_seconds(pid)
    sent = time.monotonic()
    document = {"routes": routes(args.routes, f"http://127.0.0.1:{10 + streams}")}
    applied = await http.post("/api/v1/config", params=params, json=document)
    answer_s = time.monotonic() - sent
    applied.raise_for_status()
    revision = int(applied.headers["X-AI-Gateway-Revision"])
    await fleet.wait_all(revision, 600)
    whole = fleet.arrivals(revision, sent)
    full_apply = {
        "answer_s": answer_s,
        "last_s": whole[-1],
        "p50_s": percentile(whole, 0.5),
        "cpu_s": cpu_seconds(pid) - cpu_before,
    }
    median = {k: statistics.median(c[k] for c in changes) for k in changes[0]}
    return {"streams": streams, "first_s": first_s, "idle_cpu_per_s": idle_cpu_per_s,
            "change": median, "changes": changes,
            "full_apply": full_apply, "revision": revision}  # fmt: skip


async def measure(
    args: argparse.Namespace, admin: str, grpc_target: str, pid: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    params = {"cluster": "bench"}
    async with httpx.AsyncClient(base_url=admin, headers=headers, timeout=300) as http:
        document = {"routes": routes(args.routes, "http://127.0.0.1:9")}
        started = time.monotonic()
        answer = await http.post("/api/v1/config", params=params, json=document)
        apply_s = time.monotonic() - started
        answer.raise_for_status()
        fleets, revision = [], int(answer.headers["X-AI-Gateway-Revision"])
        for streams in args.streams:
            fleet = await measure_fleet(args, http, grpc_target, pid, streams, revision)
            fleets.append(fleet)
            revision = fleet["revision"]
    return {"apply_s": apply_s, "fleets": fleets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument(
        "--streams", default="10,100,1000", help="fleet sizes, one after another (comma-separated)"
    )
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--profile",
        help="py-spy the control plane over the largest fleet's one-route changes, to FILE",
    )
    parser.add_argument("--simulate", type=int, help=argparse.SUPPRESS)  # a fleet's child
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--grpc", help=argparse.SUPPRESS)
    parser.add_argument("--cluster", default="bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simulate:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(simulate(args.grpc, args.cluster, args.first, args.simulate))
        return
    args.streams = [int(n) for n in str(args.streams).split(",")]
    with tempfile.TemporaryDirectory(prefix="aigw-bench-cp-") as workdir:
        ready = Path(workdir) / "ready.json"
        log = (Path(workdir) / "control-plane.log").open("wb")  # a line per stream: not here
        process = subprocess.Popen(
            [sys.executable, "-m", "control_plane", "--listen", "127.0.0.1:0",
             "--grpc-listen", "127.0.0.1:0", "--cluster", "bench",
             "--database-url", f"sqlite+aiosqlite:///{workdir}/cp.db", "--ready-file", str(ready)],
            cwd=ROOT, env={**os.environ, "AI_GATEWAY_API_KEY": API_KEY},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the control plane did not start: {_tail(log.name)}")
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


def _tail(path: str) -> str:
    return Path(path).read_text(errors="replace")[-2000:]


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(figures))
        return
    fleets = figures["fleets"]
    print(
        f"\nControl plane: {args.routes} routes; simulated data planes in processes of 100 "
        f"streams; median of {args.changes} one-route changes per fleet\n"
    )
    print(
        f"{args.routes}-route apply answered: {figures['apply_s']:.2f} s "
        f"(target <= {TARGETS['apply_s']:.0f} s)\n"
    )
    print(
        "| data planes | REST answer | p50 has it | p99 has it | every one | p99 after the "
        "answer | CP CPU per change | bytes per stream | re-apply of every route: answer | every one has it | its CP CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for fleet in fleets:
        change, whole = fleet["change"], fleet["full_apply"]
        print(
            f"| {fleet['streams']} | {change['answer_ms']:.0f} ms | {change['p50_ms']:.0f} ms "
            f"| {change['p99_ms']:.0f} ms | {change['last_ms']:.0f} ms "
            f"| {change['p99_after_answer_ms']:.0f} ms | {change['cpu_ms']:.0f} ms "
            f"| {change['bytes_per_stream']:.0f} | {whole['answer_s']:.2f} s | {whole['last_s']:.2f} s "
            f"| {whole['cpu_s']:.2f} s |"
        )
    smallest, largest = fleets[0], fleets[-1]
    print(
        f"\nTargets: 100 data planes have a one-route change within {TARGETS['change_ms']:.0f} ms "
        f"of the request (issue 15); {largest['streams']} within 1 s of the answer (p99), with "
        f"CP CPU <= 2x that of {smallest['streams']}: "
        f"{largest['change']['cpu_ms']:.0f} ms vs {smallest['change']['cpu_ms']:.0f} ms (issue 17)"
    )


if __name__ == "__main__":
    main()
