"""Data planes report to the control plane; the fleet's latency, traffic and errors add up there."""

from __future__ import annotations

import bisect
import json
import time
from pathlib import Path
from typing import Any

import httpx

from data_plane.metrics import DURATION_BUCKETS
from tests.support.control_plane import ControlPlaneProcess
from tests.support.gateway import Gateway
from tests.support.processes import free_port


def raw_quantile(values: list[float], q: float) -> float:
    """The value at rank q*n, as a histogram counts it."""
    ordered = sorted(values)
    return ordered[max(0, int(q * len(ordered) + 0.999999) - 1)]


def bucket_of(seconds: float) -> tuple[float, float]:
    index = bisect.bisect_left(DURATION_BUCKETS, seconds)
    return (DURATION_BUCKETS[index - 1] if index else 0.0), DURATION_BUCKETS[index]


def fleet(gw: Gateway, **query: str) -> dict[str, Any]:
    with gw.admin() as http:
        answer = http.get("/api/v1/metrics", params={"cluster": gw.cluster, **query})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def wait_for(gw: Gateway, requests: int, **query: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        answer = fleet(gw, **query)
        if answer["total"]["requests"] >= requests:
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)


def logged_durations(gw: Gateway, route: str) -> list[float]:
    """Every data plane's own measure of each request, from its access log, in seconds."""
    durations = []
    for plane in gw.data_planes:
        for line in plane.logs().splitlines():
            if '"requestId"' in line and (entry := json.loads(line))["route"] == route:
                durations.append(entry["durationMs"] / 1000)
    return durations


def test_two_data_planes_merge_into_fleet_percentiles(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane("--telemetry-interval", "0.3")
        backend = gw.add_upstream("model")
        gw.add_data_plane("dp-1")
        gw.add_data_plane("dp-2")
        gw.add_route(name="chat", path="/chat", rewritePrefix="/slow", target=backend)
        with httpx.Client() as client:
            for _ in range(80):
                assert client.get(gw.proxy_url(0) + "/chat?delay=0.015").status_code == 200
            for _ in range(20):
                assert client.get(gw.proxy_url(1) + "/chat?delay=0.35").status_code == 200

        answer = wait_for(gw, 100, type="latency", endpoint="/chat")
        raw = logged_durations(gw, "chat")
        assert len(raw) == 100
        assert answer["dataPlanes"] == 2 and answer["type"] == "latency"
        (chat,) = answer["routes"]
        assert chat["route"] == "chat" and chat["path"] == "/chat" and chat["requests"] == 100
        for name, q in (("p50Ms", 0.5), ("p90Ms", 0.9), ("p99Ms", 0.99)):
            lower, upper = bucket_of(raw_quantile(raw, q))
            assert lower * 1000 <= chat[name] <= upper * 1000, (name, chat, lower, upper)
        assert chat["p90Ms"] > 250, "the slow replica's tail shows: not an average of percentiles"
        assert answer["total"]["p99Ms"] == chat["p99Ms"]

        printed = json.loads(gw.cli("metrics", "--format", "json"))
        assert printed["cluster"] == gw.cluster and printed["routes"][0]["requests"] == 100
        assert {"p99Ms", "requestsPerSecond", "errorRate"} <= set(printed["total"])
        table = gw.cli("metrics", "--endpoint", "/chat")
        assert "P99 MS" in table and "chat" in table and "2 data plane(s)" in table
        row = next(line for line in table.splitlines() if "/chat" in line)
        assert " 100 " in row and f"{chat['p99Ms']:.1f}" in row, table

        # The seed's form: requests.get('http://gateway:8080/api/v1/metrics', headers=...)
        assert gw.control_plane is not None
        key = {"Authorization": f"Bearer {gw.control_plane.api_key}"}
        seed = httpx.get(gw.proxy_url() + "/api/v1/metrics", headers=key)
        assert seed.status_code == 200 and seed.json()["total"]["requests"] == 100

        traffic = fleet(gw, type="traffic", window="1m", endpoint="/chat")
        assert traffic["total"]["byStatus"] == {"2xx": 100}
        assert traffic["total"]["requestsPerSecond"] > 0
        assert "p50Ms" not in traffic["total"]
    finally:
        gw.stop()


def test_a_502_is_an_error_of_its_route_and_target(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane("--telemetry-interval", "0.3")
        good = gw.add_upstream("model")
        gw.add_data_plane("dp")
        dead = f"http://127.0.0.1:{free_port()}"
        gw.add_route(name="broken", path="/broken", target=dead)
        gw.add_route(name="fine", path="/fine", target=good)
        for _ in range(3):
            assert httpx.get(gw.proxy_url() + "/broken").status_code == 502
        for _ in range(7):
            assert httpx.get(gw.proxy_url() + "/fine").status_code == 200
        answer = wait_for(gw, 10, type="errors")
        by_route = {r["route"]: r for r in answer["routes"]}
        assert by_route["broken"]["errors"] == 3 and by_route["broken"]["errorRate"] == 1.0
        assert by_route["fine"]["errors"] == 0
        assert answer["total"]["errorRate"] == 0.3
        targets = {(t["route"], t["target"]): t for t in answer["targets"]}
        assert targets[("broken", dead)]["errors"] == 3
        assert targets[("fine", good)]["errors"] == 0

        with gw.admin() as http:
            (plane,) = http.get("/api/v1/dataplanes", params={"cluster": gw.cluster}).json()[
                "dataplanes"
            ]
        states = {t["target"]: t["state"] for t in plane["targets"]}
        assert states[good] == "healthy" and dead in states
        status = gw.cli("status")
        assert "backends seen by dp" in status
        assert next(line for line in status.splitlines() if good in line and "healthy" in line)
    finally:
        gw.stop()


def test_bad_metric_queries_name_the_field(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        with gw.admin() as http:
            for query, field in (
                ({"type": "speed"}, "type"),
                ({"window": "5 minutes"}, "window"),
                ({"window": "2h"}, "window"),
            ):
                answer = http.get("/api/v1/metrics", params=query)
                assert answer.status_code == 400 and answer.json()["error"]["field"] == field
            missing = http.get("/api/v1/metrics", params={"endpoint": "/nowhere"})
            assert missing.status_code == 404 and missing.json()["error"]["field"] == "endpoint"
            own = httpx.get(gw.control_plane.url + "/metrics")  # type: ignore[union-attr]
            assert own.status_code == 200 and "aigw_cp_snapshot_build_seconds" in own.text
    finally:
        gw.stop()


def test_every_control_plane_replica_answers_for_the_whole_fleet(
    postgres_url: str, tmp_path: Path
) -> None:
    first = ControlPlaneProcess(
        tmp_path, postgres_url, cluster="aimlops", extra_args=["--telemetry-interval", "0.3"]
    ).start()
    second = ControlPlaneProcess(
        tmp_path, postgres_url, cluster="aimlops", extra_args=["--telemetry-interval", "0.3"]
    ).start()
    gw = Gateway(tmp_path, control_plane=second)  # the data plane streams from the second
    try:
        backend = gw.add_upstream("model")
        gw.add_data_plane("dp")
        gw.add_route(name="chat", path="/chat", target=backend)
        for _ in range(7):
            assert httpx.get(gw.proxy_url() + "/chat").status_code == 200
        deadline = time.monotonic() + 10
        while True:
            with first.client() as http:
                answer = http.get("/api/v1/metrics", params={"type": "traffic"}).json()
                planes = http.get("/api/v1/dataplanes").json()["dataplanes"]
            if answer["total"]["requests"] == 7 and planes and planes[0]["targets"]:
                break
            assert time.monotonic() < deadline, (answer, planes)
            time.sleep(0.2)
        assert answer["dataPlanes"] == 1 and planes[0]["targets"][0]["target"] == backend
    finally:
        gw.stop()
        first.stop()
