"""``make bench``: the data plane against a direct call and against nginx, in one run.

Starts a stub upstream, the data plane (one worker, configured from a cached
snapshot: no control plane in the measurement) and nginx as a reverse proxy
when it is installed; drives each with wrk in interleaved rounds; pins wrk
and the stub to one core and the proxy under test to the other.
Prints a Markdown table (and writes it to bench/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_plane.sync.snapshot_file import cache_path, write_snapshot  # noqa: E402
from protos import snapshot_pb2 as pb  # noqa: E402

BODY = '{"model":"stub","messages":[{"role":"user","content":"Say hello in one word."}]}'
STREAM_BODY = (
    '{"model":"stub","stream":true,"messages":[{"role":"user","content":"Say hello in one word."}]}'
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_CPU, SERVER_CPU = "0", "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (nginx's workers)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def start(
    args: list[str], ready: Path, cpu: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["taskset", "-c", cpu, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"could not start {args}")
        time.sleep(0.05)
    return process


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listens on {port}")
        time.sleep(0.05)


def write_routes(cache_dir: Path, upstream: str, count: int) -> None:
    """``count`` routes: filler prefixes, and the three measured. ``/predict`` (exact) uses none
    of the AI features: no AI filter is composed for it. ``/v1/chat/completions`` routes on the
    model and counts usage. ``/stream`` (prefix) relays the plain event stream."""
    target = [pb.Target(url=upstream, weight=1)]
    routes = [
        pb.Route(
            id=f"r{i}",
            name=f"model-{i}",
            path=pb.PathMatch(kind=pb.PathMatch.PREFIX, value=f"/model-{i}"),
            targets=target,
        )
        for i in range(count - 3)
    ]
    routes += [
        pb.Route(
            id="plain",
            name="plain",
            path=pb.PathMatch(kind=pb.PathMatch.EXACT, value="/predict"),
            targets=target,
        ),
        pb.Route(
            id="chat",
            name="chat",
            path=pb.PathMatch(kind=pb.PathMatch.EXACT, value="/v1/chat/completions"),
            models=["stub", "gpt-4o*"],
            targets=target,
        ),
        pb.Route(
            id="stream",
            name="stream",
            path=pb.PathMatch(kind=pb.PathMatch.PREFIX, value="/stream"),
            targets=target,
        ),
        pb.Route(
            id="limited",
            name="limited",
            path=pb.PathMatch(kind=pb.PathMatch.PREFIX, value="/limited"),
            strip_prefix=True,
            targets=target,
        ),
    ]
    # A token limit no run reaches: every request is reserved and reconciled, none refused.
    limited = pb.SecurityPolicy(
        id="limited",
        endpoint="/limited",
        token_limit=pb.TokenLimit(tokens=999_999_999, period_seconds=60),
    )
    snapshot = pb.Snapshot(
        cluster="bench",
        version=f"bench-{count}",
        revision=1,
        routes=routes,
        security=[limited],
    )
    write_snapshot(cache_path(cache_dir, "bench"), snapshot)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group(0)), re.sub(r"[\d.]+", "", text)  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, connections: int, seconds: int, script: Path) -> WrkResult:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, _ms(latency["50"]), _ms(latency["99"]), requests)


def nginx_config(directory: Path, port: int, upstream_port: int) -> Path:
    config = directory / "nginx.conf"
    config.write_text(f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream stub {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://stub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
    return config


def sse_run(port: int, streams: int, events: int, ai: bool = False) -> list[float]:
    """Seconds to the first event of each stream: the plain event stream, or (``ai``) an
    OpenAI chat-completion stream that did not ask for usage."""
    if ai:
        request = (
            f"POST /v1/chat/completions?n={events} HTTP/1.1\r\nHost: bench\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(STREAM_BODY)}\r\n\r\n"
            f"{STREAM_BODY}"
        ).encode()
    else:
        request = f"GET /stream/sse?n={events} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    firsts = []
    for _ in range(streams):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.perf_counter()
            sock.sendall(request)
            data = b""
            while b"data:" not in data:
                data += sock.recv(65536)
            firsts.append(time.perf_counter() - started)
            while not data.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    return firsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("make bench needs wrk and taskset: apt-get install wrk util-linux")
    work = Path(tempfile.mkdtemp(prefix="aigw-bench-"))
    script = work / "post.lua"
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{BODY}'\nwrk.headers['Content-Type'] = 'application/json'\n"
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        stub = start(
            [
                sys.executable,
                str(ROOT / "bench" / "stub_upstream.py"),
                "--ready-file",
                str(work / "stub.json"),
            ],
            work / "stub.json",
            LOAD_CPU,
        )
        processes.append(stub)
        stub_port = json.loads((work / "stub.json").read_text())["port"]
        upstream = f"http://127.0.0.1:{stub_port}"

        redis_url = "redis://127.0.0.1:6379/0" if redis_calls(None) is not None else None

        def start_gateway(routes: int) -> tuple[subprocess.Popen[bytes], int]:
            cache = work / f"cache-{routes}"
            write_routes(cache, upstream, routes)
            port = free_port()
            ready = work / f"dp-{routes}.json"
            process = start(
                [
                    sys.executable,
                    "-m",
                    "data_plane",
                    "--control-plane",
                    "127.0.0.1:1",
                    "--cluster",
                    "bench",
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--ops-listen",
                    f"127.0.0.1:{free_port()}",
                    "--cache-dir",
                    str(cache),
                    "--no-api-forward",
                    "--log-level",
                    "warning",
                    "--ready-file",
                    str(ready),
                    *(["--redis-url", redis_url] if redis_url else []),
                ],
                ready,
                SERVER_CPU,
                env={"PYTHONPATH": str(ROOT)},
            )
            processes.append(process)
            return process, port

        gateway, gateway_port = start_gateway(10)
        targets: dict[str, tuple[str, int | None]] = {
            "direct": (f"{upstream}/predict", None),
            "gateway": (f"http://127.0.0.1:{gateway_port}/predict", gateway.pid),
            "gateway, model routing + usage": (
                f"http://127.0.0.1:{gateway_port}/v1/chat/completions",
                gateway.pid,
            ),
            "gateway, usage + token limit": (
                f"http://127.0.0.1:{gateway_port}/limited/v1/chat/completions",
                gateway.pid,
            ),
        }
        if shutil.which("nginx"):
            nginx_port = free_port()
            config = nginx_config(work, nginx_port, stub_port)
            nginx = subprocess.Popen(
                ["taskset", "-c", SERVER_CPU, "nginx", "-c", str(config), "-p", str(work)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(nginx)
            wait_port(nginx_port)
            targets["nginx"] = (f"http://127.0.0.1:{nginx_port}/predict", nginx.pid)

        for url, _ in targets.values():  # warm up pools and code paths
            wrk(url, 32, 1, script)
        c32: dict[str, list[tuple[WrkResult, float]]] = {name: [] for name in targets}
        c1: dict[str, list[WrkResult]] = {name: [] for name in targets}
        limited_calls: list[float] = []  # Redis commands per request of the limited route
        for _ in range(args.rounds):
            for name, (url, pid) in targets.items():
                before = cpu_seconds(pid) if pid else 0.0
                calls_before = redis_calls(redis_url) if name.endswith("token limit") else None
                result = wrk(url, 32, args.seconds, script)
                cpu = (cpu_seconds(pid) - before) / result.requests if pid else 0.0
                c32[name].append((result, cpu))
                calls_after = redis_calls(redis_url) if calls_before is not None else None
                if calls_before is not None and calls_after is not None:
                    limited_calls.append((calls_after - calls_before) / result.requests)
            for name, (url, _) in targets.items():
                c1[name].append(wrk(url, 1, max(2, args.seconds // 2), script))

        def med(values: list[float]) -> float:
            return statistics.median(values)

        rows = {}
        for name in targets:
            rows[name] = {
                "rps": med([r.rps for r, _ in c32[name]]),
                "p50": med([r.p50_ms for r, _ in c32[name]]),
                "p99": med([r.p99_ms for r, _ in c32[name]]),
                "cpu_us": med([cpu for _, cpu in c32[name]]) * 1e6,
                "c1_p50": med([r.p50_ms for r in c1[name]]),
                "c1_p99": med([r.p99_ms for r in c1[name]]),
            }

        # SSE: time to first event added, and CPU per event; plain and metered, interleaved.
        sse: dict[bool, dict[str, list[float]]] = {
            ai: {"cpu": [], "added": []} for ai in (False, True)
        }
        for _ in range(args.rounds):
            for ai in (False, True):
                before = cpu_seconds(gateway.pid)
                gateway_firsts = sse_run(gateway_port, 20, 200, ai)
                sse[ai]["cpu"].append((cpu_seconds(gateway.pid) - before) / (20 * 200) * 1e6)
                direct_firsts = sse_run(stub_port, 20, 200, ai)
                sse[ai]["added"].append((med(gateway_firsts) - med(direct_firsts)) * 1000)
        sse_cpu_us, sse_added_ms = med(sse[False]["cpu"]), med(sse[False]["added"])
        ai_sse = (med(sse[True]["cpu"]), med(sse[True]["added"]))
        rss = rss_mb(gateway.pid)

        # 10,000 routes against 10: the same request, matched in a bigger table, interleaved.
        big, big_port = start_gateway(10_000)
        big_url = f"http://127.0.0.1:{big_port}/predict"
        small_url = targets["gateway"][0]
        wrk(big_url, 32, 1, script)
        ratios = []
        for _ in range(args.rounds):
            small_rps = wrk(small_url, 32, args.seconds, script).rps
            ratios.append(wrk(big_url, 32, args.seconds, script).rps / small_rps)
        big_ratio = med(ratios)
        big_rss = rss_mb(big.pid)

        calls = med(limited_calls) if limited_calls else None
        report = render(
            rows, sse_added_ms, sse_cpu_us, ai_sse, rss, big_ratio, big_rss, calls, args
        )
        print(report)
        (ROOT / "bench" / "results.md").write_text(report)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


def redis_calls(url: str | None) -> int | None:
    """Script calls Redis has served (EVALSHA and EVAL), or None when there is no Redis. With
    ``url`` None: whether the default one answers at all."""
    try:
        import redis

        client = redis.Redis.from_url(url or "redis://127.0.0.1:6379/0", socket_timeout=1)
        stats = client.info("commandstats")
        client.close()
    except Exception:
        return None
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


def render(
    rows: dict[str, dict[str, float]],
    sse_added_ms: float,
    sse_cpu_us: float,
    ai_sse: tuple[float, float],
    rss: float,
    big_ratio: float,
    big_rss: float,
    redis_calls_per_request: float | None,
    args: argparse.Namespace,
) -> str:
    gw = rows["gateway"]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores; wrk -t1, POST of a small "
        f"OpenAI-style JSON body, {args.rounds} interleaved rounds of {args.seconds}s (medians); "
        f"wrk and the stub on cpu {LOAD_CPU}, the proxy under test on cpu {SERVER_CPU}; "
        "the gateway: one worker, one route matched; `gateway` is an exact route that uses no AI "
        "feature, `model routing + usage` the same request to a route that matches on the "
        "body's model and counts the answer's usage.",
        "",
        "| target | c32 req/s | c32 p50 ms | c32 p99 ms | CPU us/req | c1 p50 ms | c1 p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        cpu = f"{row['cpu_us']:.0f}" if name != "direct" else "-"
        lines.append(
            f"| {name} | {row['rps']:.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {cpu} | "
            f"{row['c1_p50']:.3f} | {row['c1_p99']:.3f} |"
        )
    lines += ["", "| measure | value | target |", "|---|---|---|"]
    lines.append(f"| gateway CPU per request | {gw['cpu_us']:.0f} us | <= 145 us |")
    if "nginx" in rows:
        ratio = rows["nginx"]["cpu_us"] / gw["cpu_us"]
        lines.append(
            f"| capacity per core vs nginx (nginx CPU/req / gateway CPU/req) | {ratio:.2f}x | >= 0.20x |"
        )
        lines.append(f"| c32 throughput vs nginx | {gw['rps'] / rows['nginx']['rps']:.2f}x | |")
    lines.append(f"| c32 throughput vs direct | {gw['rps'] / rows['direct']['rps']:.2f}x | |")
    added_us = (gw["c1_p50"] - rows["direct"]["c1_p50"]) * 1000
    lines.append(f"| c1 latency added (p50) | {added_us:.0f} us | <= 250 us |")
    lines.append(f"| SSE first event added (p50) | {sse_added_ms:.2f} ms | <= 0.5 ms |")
    lines.append(f"| SSE CPU per event | {sse_cpu_us:.0f} us | <= 50 us |")
    ai = rows["gateway, model routing + usage"]
    lines.append(
        f"| model routing + usage: CPU per request added | {ai['cpu_us'] - gw['cpu_us']:+.0f} us "
        "| <= +15 us |"
    )
    lines.append(
        f"| usage of a stream (include_usage asked, its chunk hidden): CPU per event added | "
        f"{ai_sse[0] - sse_cpu_us:+.1f} us | <= +10 us |"
    )
    lines.append(
        f"| usage of a stream: first event added (p50), against the plain stream's "
        f"{sse_added_ms:.2f} ms | {ai_sse[1]:.2f} ms | unchanged within noise |"
    )
    limited = rows["gateway, usage + token limit"]
    where = "with Redis" if redis_calls_per_request is not None else "without Redis (none here)"
    lines.append(
        f"| token limit {where}: CPU per request added (against model routing + usage) | "
        f"{limited['cpu_us'] - ai['cpu_us']:+.0f} us | recorded |"
    )
    if redis_calls_per_request is not None:
        lines.append(
            f"| token limit: Redis commands per request (admission + reconciliation) | "
            f"{redis_calls_per_request:.2f} | <= 2 |"
        )
    lines.append(
        f"| RSS per worker (10 routes / 10,000 routes) | {rss:.0f} MB / {big_rss:.0f} MB | <= 60 MB |"
    )
    lines.append(
        f"| throughput with 10,000 routes vs 10 (interleaved) | {big_ratio:.2f}x | >= 0.95x |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
