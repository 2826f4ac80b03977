"""Wrong admin keys are throttled per client address: on the admin port, over gRPC, and
through the proxy port."""

from __future__ import annotations

import re
from collections.abc import Iterator

import grpc
import httpx
import pytest

from ai_gateway import AI_Gateway, RateLimitError
from protos import admin_pb2 as apb
from protos import admin_pb2_grpc
from tests.support.gateway import Gateway

FREE_FAILURES = 10  # a burst of ten wrong keys a minute, then one every six seconds


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("throttle"))
    try:
        gw.start_control_plane("--trusted-proxies", "127.0.0.1/32")
        gw.add_data_plane("dp-throttle")
        yield gw
    finally:
        gw.stop()


def guess(url: str, key: str, client: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if client is not None:
        headers["X-Forwarded-For"] = client
    return httpx.get(url + "/api/v1/routes", headers=headers)


def throttled_total(gw: Gateway) -> float:
    assert gw.control_plane is not None
    text = httpx.get(gw.control_plane.url + "/metrics").text
    match = re.search(r"^aigw_cp_auth_throttled_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_the_admin_port_throttles_each_client_that_keeps_guessing(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    url, key = gateway.control_plane.url, gateway.control_plane.api_key
    statuses = [guess(url, f"guess-{i}", "10.0.0.1").status_code for i in range(50)]
    assert statuses == [401] * FREE_FAILURES + [429] * (50 - FREE_FAILURES)
    refused = guess(url, key, "10.0.0.1")  # even the right key waits: a guess learns nothing
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_auth_failures"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert guess(url, key, "10.0.0.2").status_code == 200  # another client is not affected
    assert httpx.get(url + "/api/v1/routes").status_code == 401  # no key is no guess
    assert throttled_total(gateway) >= 41


def test_the_proxy_port_throttles_before_the_control_plane_sees_the_guess(
    gateway: Gateway,
) -> None:
    proxy = gateway.proxy_url()
    statuses = [guess(proxy, f"guess-{i}").status_code for i in range(40)]
    assert statuses == [401] * FREE_FAILURES + [429] * (40 - FREE_FAILURES)
    refused = guess(proxy, "guess-x")
    assert refused.json()["error"]["code"] == "too_many_auth_failures"
    assert "Retry-After" in refused.headers
    assert throttled_total(gateway) == 0  # the data plane answered; the guesses went no further


def test_the_sdk_reports_the_throttle_at_once(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    url = gateway.control_plane.url
    for index in range(FREE_FAILURES):
        assert guess(url, f"guess-{index}").status_code == 401
    with pytest.raises(RateLimitError) as raised:
        AI_Gateway(api_key="guess-sdk", url=url).clusters()
    assert raised.value.code == "too_many_auth_failures" and raised.value.retry_after


async def test_grpc_admin_throttles_too(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    async with grpc.aio.insecure_channel(gateway.control_plane.grpc_target) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        codes = []
        for index in range(FREE_FAILURES + 5):
            try:
                await stub.ListRoutes(
                    apb.ListRoutesRequest(cluster=gateway.cluster),
                    metadata=(("authorization", f"Bearer guess-{index}"),),
                )
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
    assert (
        codes
        == [grpc.StatusCode.UNAUTHENTICATED] * FREE_FAILURES
        + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 5
    )
