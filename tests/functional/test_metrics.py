"""The data plane's /metrics moves as the traffic says."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import Gateway, wait_until_serving


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("metrics"))
    try:
        gw.start_control_plane()
        gw.add_upstream("alpha")
        gw.add_data_plane("dp-metrics")
        yield gw
    finally:
        gw.stop()


def samples(gw: Gateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(gw: Gateway, name: str, **labels: str) -> float:
    return samples(gw).get((name, frozenset(labels.items())), 0.0)


def test_requests_and_durations_count_each_request(gateway: Gateway) -> None:
    backend = f"http://127.0.0.1:{gateway.upstreams['alpha'].ready['port']}"
    gateway.add_route(name="counted", path="/counted", target=backend)
    before = value(
        gateway, "aigw_requests_total", route="counted", method="GET", status_class="2xx"
    )
    for _ in range(7):
        assert httpx.get(gateway.proxy_url() + "/counted").status_code == 200
    after = samples(gateway)
    key = frozenset({"route": "counted", "method": "GET", "status_class": "2xx"}.items())
    assert after[("aigw_requests_total", key)] - before == 7
    assert (
        after[("aigw_request_duration_seconds_count", frozenset({"route": "counted"}.items()))] >= 7
    )
    target_key = frozenset({"route": "counted", "target": backend, "status_class": "2xx"}.items())
    assert after[("aigw_upstream_responses_total", target_key)] >= 7
    assert after[("aigw_response_bytes_total", frozenset({"route": "counted"}.items()))] > 0
    sent_before = value(gateway, "aigw_request_bytes_total", route="counted")
    assert httpx.post(gateway.proxy_url() + "/counted", content=b"hello world").status_code == 200
    chunked = httpx.post(gateway.proxy_url() + "/counted", content=iter([b"abc", b"de"]))
    assert chunked.status_code == 200
    sent = value(gateway, "aigw_request_bytes_total", route="counted") - sent_before
    assert sent == 11 + 5, "request bodies are counted, chunked ones too"


def test_a_502_is_an_error_of_its_route_and_target(gateway: Gateway) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    gateway.add_route(name="broken", path="/broken", target=dead, retries={"attempts": 1})
    assert httpx.get(gateway.proxy_url() + "/broken").status_code == 502
    assert (
        value(gateway, "aigw_requests_total", route="broken", method="GET", status_class="5xx") == 1
    )
    assert (
        value(
            gateway,
            "aigw_upstream_responses_total",
            route="broken",
            target=dead,
            status_class="error",
        )
        == 1
    )


def test_auth_failures_rate_limits_and_state(gateway: Gateway) -> None:
    backend = f"http://127.0.0.1:{gateway.upstreams['alpha'].ready['port']}"
    gateway.add_route(name="guarded", path="/guarded", target=backend)
    with gateway.admin() as http:
        answer = http.put(
            "/api/v1/security/guarded",
            params={"cluster": gateway.cluster},
            json={"authType": "api-key", "rateLimit": "1/min"},
        )
        wait_until_serving(gateway.data_planes[0], int(answer.headers["X-AI-Gateway-Revision"]))
        key = http.post(
            "/api/v1/consumers/metrics/keys", params={"cluster": gateway.cluster}, json={}
        )
        wait_until_serving(gateway.data_planes[0], int(key.headers["X-AI-Gateway-Revision"]))
    before = value(gateway, "aigw_auth_failures_total", reason="missing_api_key")
    httpx.get(gateway.proxy_url() + "/guarded")
    assert value(gateway, "aigw_auth_failures_total", reason="missing_api_key") == before + 1
    headers = {"X-API-Key": key.json()["key"]}
    assert [
        httpx.get(gateway.proxy_url() + "/guarded", headers=headers).status_code for _ in range(2)
    ] == [200, 429]
    assert value(gateway, "aigw_rate_limited_total", endpoint="/guarded") == 1
    assert value(gateway, "aigw_control_plane_connected") == 1
    state = samples(gateway)
    assert any(name == "aigw_config_info" for name, _ in state)
    assert value(gateway, "aigw_target_healthy", target=backend, state="healthy") == 1
    text = httpx.get(f"http://127.0.0.1:{gateway.data_planes[0].ready['ops_port']}/metrics").text
    assert key.json()["key"] not in text and "aigw_" in text


def test_one_access_log_line_per_request_without_secrets(gateway: Gateway) -> None:
    import json

    backend = f"http://127.0.0.1:{gateway.upstreams['alpha'].ready['port']}"
    gateway.add_route(name="logged", path="/logged", target=backend)
    answer = httpx.post(
        gateway.proxy_url() + "/logged/x?token=secret-query",
        content=b"12345",
        headers={"X-Request-Id": "req-log-1", "Authorization": "Bearer sk-very-secret"},
    )
    assert answer.status_code == 200
    httpx.get(gateway.proxy_url() + "/nowhere", headers={"X-Request-Id": "req-log-2"})
    plane = gateway.data_planes[0]
    deadline = time.monotonic() + 5
    while "req-log-2" not in plane.logs():
        assert time.monotonic() < deadline, "no access-log line"
        time.sleep(0.05)
    lines = [json.loads(line) for line in plane.logs().splitlines() if '"requestId"' in line]
    ok = next(line for line in lines if line["requestId"] == "req-log-1")
    assert ok["route"] == "logged" and ok["method"] == "POST" and ok["path"] == "/logged/x"
    assert ok["status"] == 200 and ok["target"] == backend and ok["retries"] == 0
    assert ok["bytesIn"] == 5 and ok["bytesOut"] > 0 and ok["clientIp"] == "127.0.0.1"
    assert ok["durationMs"] >= ok["upstreamMs"] > 0 and ok["cluster"] == gateway.cluster
    missing = next(line for line in lines if line["requestId"] == "req-log-2")
    assert (
        missing["status"] == 404 and missing["error"] == "no_route" and missing["route"] == "none"
    )
    assert "sk-very-secret" not in plane.logs() and "secret-query" not in plane.logs()
