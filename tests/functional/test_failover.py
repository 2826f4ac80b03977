"""Backends that fail the way inference servers do, and clients that should not notice (U1-U6)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import Gateway
from tests.support.processes import free_port, upstream


def misbehaving(gw: Gateway, name: str, mode: str, **env: str) -> str:
    process = upstream(gw.workdir, name, UPSTREAM_MODE=mode, **env).start()
    gw.upstreams[name] = process
    return f"http://127.0.0.1:{process.ready['port']}"


def requests_seen(gw: Gateway, name: str) -> int:
    return int(
        httpx.get(f"http://127.0.0.1:{gw.upstreams[name].ready['port']}/stats").json()["requests"]
    )


def target_states(gw: Gateway) -> dict[str, str]:
    ready = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/readyz").json()
    return {t["target"]: t["state"] for t in ready["targets"]}


def cli_status(gw: Gateway) -> str:
    """``ai-gateway-cli status --data-plane <ops URL>`` as an operator runs it."""
    return gw.cli(
        "status", "--data-plane", f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}"
    )


def start(tmp_path: Path, *dp_args: str) -> Gateway:
    gw = Gateway(tmp_path)
    gw.start_control_plane()
    gw.add_data_plane("dp", "--ejection-seconds", "1", *dp_args)
    return gw


def route(gw: Gateway, path: str, *targets: Any, **fields: Any) -> None:
    gw.add_route(path=path, targets=list(targets), **fields)


def test_u1_refused_primary_fails_over_is_ejected_and_comes_back(tmp_path: Path) -> None:
    gw = start(tmp_path, "--ejection-seconds", "4")  # outlasts the CLI's start below
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        backup = gw.add_upstream("backup")
        route(gw, "/u1", {"url": dead, "priority": 0}, {"url": backup, "priority": 1})
        statuses = [httpx.get(gw.proxy_url() + "/u1").status_code for _ in range(8)]
        assert statuses == [200] * 8
        assert target_states(gw)[dead] == "ejected"
        metrics = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/metrics").text
        assert 'aigw_failovers_total{route="u1"} 8.0' in metrics, (
            "each answer came from the fallback"
        )
        shown = cli_status(gw)
        assert f"{dead}" in shown and "ejected" in shown
        assert shown.count("backends seen by dp") == 1, shown  # one table per data plane
        deadline = time.monotonic() + 15  # the ejection (4 s here, 30 s by default) runs out
        while target_states(gw)[dead] != "healthy":
            assert time.monotonic() < deadline, target_states(gw)
            time.sleep(0.1)
    finally:
        gw.stop()


def test_u2_reset_before_headers_is_retried_on_another_target(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        resetting = misbehaving(gw, "resetting", "reset")
        good = gw.add_upstream("good")
        route(gw, "/u2", resetting, good)
        for _ in range(4):
            answer = httpx.post(gw.proxy_url() + "/u2", json={"prompt": "hi"})
            assert answer.status_code == 200 and answer.json()["server"] == "good"
            assert answer.json()["body"] == '{"prompt":"hi"}', "the replayed body changed"
        assert requests_seen(gw, "resetting") >= 1
    finally:
        gw.stop()


def test_u3_stream_cut_midway_ends_with_an_error_event(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        cutting, good = gw.add_upstream("cutting"), gw.add_upstream("good")
        route(gw, "/sse-cut", cutting, good)
        for _ in range(2):  # whichever target answers first, no retry happens after the first byte
            with httpx.stream("GET", gw.proxy_url() + "/sse-cut?n=3") as stream:
                lines = [line for line in stream.iter_lines() if line]
            assert lines[:3] == ["data: 0", "data: 1", "data: 2"]
            assert lines[3] == "event: error" and '"code":"upstream_reset"' in lines[4]
            assert len(lines) == 5
        assert requests_seen(gw, "cutting") + requests_seen(gw, "good") == 2, (
            "a cut stream was retried"
        )
    finally:
        gw.stop()


def test_u4_a_healthy_long_stream_is_not_cut(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        backend = gw.add_upstream("streamer")
        route(gw, "/sse", backend, timeouts={"idle": 0.5, "firstByte": 0.5})
        started = time.monotonic()
        with httpx.stream("GET", gw.proxy_url() + "/sse?n=10&delay=0.3") as stream:
            events = [line for line in stream.iter_lines() if line.startswith("data:")]
        assert len(events) == 11 and events[-1] == "data: [DONE]"
        assert time.monotonic() - started > 2.5, "a 3 s stream under a 0.5 s idle timeout"
    finally:
        gw.stop()


def test_u5_always_503_is_ejected_within_budget_and_all_down_is_a_fast_503(tmp_path: Path) -> None:
    gw = start(tmp_path, "--ejection-seconds", "60")  # nothing here waits for a target to return
    try:
        failing, good = misbehaving(gw, "failing", "fail503"), gw.add_upstream("good")
        route(gw, "/u5", failing, good)
        assert [httpx.get(gw.proxy_url() + "/u5").status_code for _ in range(10)] == [200] * 10
        assert target_states(gw)[failing] == "ejected"
        assert requests_seen(gw, "failing") <= 6, "retries kept hitting an ejected target"

        other = misbehaving(gw, "failing-too", "fail503")
        route(gw, "/u5-all", failing, other)
        for _ in range(6):
            httpx.get(gw.proxy_url() + "/u5-all")
        seen = requests_seen(gw, "failing") + requests_seen(gw, "failing-too")
        answer = httpx.get(gw.proxy_url() + "/u5-all")
        assert answer.status_code == 503
        assert requests_seen(gw, "failing") + requests_seen(gw, "failing-too") == seen, (
            "with every target ejected the 503 should not wait on a backend"
        )
    finally:
        gw.stop()


def test_outlier_detection_is_set_per_route(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        failing, good = misbehaving(gw, "failing", "fail503"), gw.add_upstream("good")
        outlier = {"consecutiveFailures": 2, "baseEjection": 3}
        route(gw, "/quick", failing, good, outlierDetection=outlier)
        assert [httpx.get(gw.proxy_url() + "/quick").status_code for _ in range(6)] == [200] * 6
        assert requests_seen(gw, "failing") == 2 and target_states(gw)[failing] == "ejected"
        ejected_at = time.monotonic()
        while target_states(gw)[failing] != "healthy":
            assert time.monotonic() < ejected_at + 10, target_states(gw)
            time.sleep(0.1)
        assert time.monotonic() - ejected_at > 2, "the route's 3 s, not the data plane's 1 s"

        broken = [misbehaving(gw, f"broken{i}", "fail503") for i in range(3)]
        capped = {"consecutiveFailures": 1, "maxEjectionPercent": 50, "baseEjection": 30}
        route(gw, "/capped", *broken, good, outlierDetection=capped, retries={"attempts": 4})
        for _ in range(12):
            assert httpx.get(gw.proxy_url() + "/capped").status_code == 200
        states = target_states(gw)
        assert sorted(states[url] for url in broken) == ["ejected", "ejected", "healthy"]
    finally:
        gw.stop()


def test_u6_429_cools_the_target_and_a_single_target_passes_it_through(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        limited = misbehaving(gw, "limited", "limit429", UPSTREAM_RETRY_AFTER="30")
        good = gw.add_upstream("good")
        route(gw, "/u6", limited, good)
        assert [httpx.get(gw.proxy_url() + "/u6").status_code for _ in range(6)] == [200] * 6
        assert requests_seen(gw, "limited") == 1, "a cooling target kept getting traffic"
        assert target_states(gw)[limited] == "cooling"

        route(gw, "/u6-single", limited)
        alone = httpx.get(gw.proxy_url() + "/u6-single")
        assert alone.status_code == 429 and alone.headers["Retry-After"] == "30"
    finally:
        gw.stop()


def test_consistent_hash_keeps_a_session_on_one_backend(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        backends = [gw.add_upstream(f"gpu-{i}") for i in range(3)]
        route(gw, "/kv", *backends, loadBalancer="consistent-hash", hashOn="x-session-id")
        owners = {}
        # Twenty sessions: that all land on one of three backends has odds of 3 in 3**20.
        for session in (f"session-{i}" for i in range(20)):
            served = {
                httpx.get(gw.proxy_url() + "/kv", headers={"X-Session-Id": session}).json()[
                    "server"
                ]
                for _ in range(5)
            }
            assert len(served) == 1, (session, served)
            owners[session] = served.pop()
        assert len(set(owners.values())) > 1, "every session landed on one backend"
    finally:
        gw.stop()


def test_a_target_killed_and_restarted_under_load_costs_no_client_error(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        first, second = gw.add_upstream("first"), gw.add_upstream("second")
        route(gw, "/load", first, second)
        statuses: list[int] = []
        latencies: list[tuple[float, float]] = []  # (when it started, how long it took)
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=gw.proxy_url(), timeout=10) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    statuses.append(client.post("/load", json={"prompt": "hi"}).status_code)
                    latencies.append((started, time.monotonic() - started))

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.7)
        killed_at = time.monotonic()
        victim = gw.upstreams["first"]
        port = victim.ready["port"]
        victim.kill()
        time.sleep(0.8)
        gw.upstreams["first-again"] = upstream(
            gw.workdir, "first-again", "--port", str(port)
        ).start()
        time.sleep(0.7)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        assert len(statuses) > 100 and set(statuses) == {200}, {
            s: statuses.count(s) for s in set(statuses)
        }

        def p99(durations: list[float]) -> float:
            return sorted(durations)[int(len(durations) * 0.99)]

        before = p99([took for started, took in latencies if started < killed_at])
        during = p99([took for started, took in latencies if started >= killed_at])
        assert during - before <= 0.1, (
            f"failover added more than 100 ms at p99: {before * 1000:.1f} ms before the kill, "
            f"{during * 1000:.1f} ms from it on"
        )
    finally:
        gw.stop()


def test_active_health_checks_take_a_target_out_and_back(tmp_path: Path) -> None:
    gw = start(tmp_path)
    try:
        sick, good = misbehaving(gw, "sick", "fail503"), gw.add_upstream("good")
        check = {
            "path": "/healthz",
            "interval": 0.2,
            "timeout": 1,
            "unhealthyThreshold": 2,
            "healthyThreshold": 2,
        }
        route(gw, "/checked", sick, good, healthCheck=check, retries={"attempts": 1})
        deadline = time.monotonic() + 5
        while target_states(gw).get(sick) != "failing-checks":
            assert time.monotonic() < deadline, target_states(gw)
            time.sleep(0.05)
        served = {httpx.get(gw.proxy_url() + "/checked").status_code for _ in range(10)}
        assert served == {200}, "a target failing its checks still got traffic"

        port = gw.upstreams["sick"].ready["port"]
        gw.upstreams["sick"].stop()
        gw.upstreams["healed"] = upstream(gw.workdir, "healed", "--port", str(port)).start()
        deadline = time.monotonic() + 5
        while target_states(gw).get(sick) != "healthy":
            assert time.monotonic() < deadline, target_states(gw)
            time.sleep(0.05)
    finally:
        gw.stop()
