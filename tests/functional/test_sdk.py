"""The Python SDK, sync and async, against a real control plane (and a scripted one for retries)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from ai_gateway import (
    AI_Gateway,
    AsyncAIGateway,
    AuthenticationError,
    ConflictError,
    GatewayConnectionError,
    InvalidInputError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from tests.support.control_plane import ControlPlaneProcess
from tests.support.scripted_server import scripted_server


@pytest.fixture(autouse=True)
def isolated_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AI_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AI_GATEWAY_HOME", str(tmp_path / "home"))


def test_no_key_anywhere_raises_the_seed_error() -> None:
    with pytest.raises(ValueError, match=r"^API key required$"):
        AI_Gateway()


def test_seed_usage(control_plane: ControlPlaneProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_GATEWAY_API_KEY", control_plane.api_key)
    monkeypatch.setenv("AI_GATEWAY_URL", control_plane.url)
    cluster = f"aimlops-{uuid.uuid4().hex[:6]}"
    AI_Gateway(api_key=os.environ["AI_GATEWAY_API_KEY"]).create_cluster(cluster)
    gw = AI_Gateway(api_key=os.environ["AI_GATEWAY_API_KEY"]).connect(cluster=cluster)
    route = gw.createRoute(path="/predict", target="http://ai-service:8080", method="POST")
    assert route["name"] == "predict" and route["methods"] == ["POST"]
    policy = gw.secure("/predict", auth="jwt", rate_limit=100)
    assert policy["rateLimit"] == "100/min"
    assert [r["id"] for r in gw.list_routes()] == [route["id"]]
    assert gw.get_route("predict")["id"] == route["id"]
    updated = gw.update_route("predict", path="/predict", targets=["http://a:1", "http://b:1"])
    assert [t["url"] for t in updated["targets"]] == ["http://a:1", "http://b:1"]
    diff = gw.apply(
        {"routes": [{"path": "/chat", "target": "http://llm-service:5000"}]}, dry_run=True
    )
    assert diff["summary"] == {"create": 1, "update": 0, "delete": 2}
    assert gw.delete_route(route["id"])["revision"] == 4
    assert gw.dataplanes() == []


def test_typed_errors(control_plane: ControlPlaneProcess) -> None:
    gateway = AI_Gateway(api_key=control_plane.api_key, url=control_plane.url)
    gw = gateway.connect(cluster=f"c-{uuid.uuid4().hex[:6]}", create=True)
    with pytest.raises(InvalidInputError) as invalid:
        gw.create_route(path="predict", target="http://ai-service:8080")
    assert invalid.value.status == 422 and invalid.value.field == "path"
    assert "Invalid route path" in invalid.value.message
    gw.create_route(path="/predict", target="http://ai-service:8080")
    assert gw.create_route(path="/predict", target="http://ai-service:8080")["unchanged"]
    with pytest.raises(ConflictError, match="PUT /api/v1/routes/predict"):
        gw.create_route(path="/predict", target="http://other-service:8080")
    with pytest.raises(NotFoundError):
        gw.get_route("nope")
    with pytest.raises(NotFoundError, match="create=True"):
        gateway.connect(cluster="never-created")  # at once, not at first use
    with pytest.raises(AuthenticationError):
        AI_Gateway(api_key="wrong", url=control_plane.url).connect(cluster="default")
    with pytest.raises(GatewayConnectionError):
        AI_Gateway(api_key="k", url="http://127.0.0.1:9", max_retries=1).connect("default")


async def test_async_client(control_plane: ControlPlaneProcess) -> None:
    async with AsyncAIGateway(api_key=control_plane.api_key, url=control_plane.url) as gateway:
        gw = await gateway.connect(cluster=f"c-{uuid.uuid4().hex[:6]}", create=True)
        created = await gw.createRoute(path="/chat", target="http://llm-service:5000")
        assert [r["id"] for r in await gw.list_routes()] == [created["id"]]
        with pytest.raises(InvalidInputError) as caught:
            await gw.secure("/chat", auth="oauth")
        assert caught.value.field == "authType"


def test_retries_honour_retry_after_then_succeed() -> None:
    replies = [
        (503, {"Retry-After": "0"}, {"error": {"code": "unavailable", "message": "busy"}}),
        (429, {"Retry-After": "1"}, {"error": {"code": "rate_limited", "message": "slow down"}}),
        (200, {}, {"clusters": [{"name": "default", "revision": 0}]}),
    ]
    with scripted_server(replies) as (url, seen):
        started = time.monotonic()
        clusters = AI_Gateway(api_key="k", url=url).clusters()
        elapsed = time.monotonic() - started
    assert clusters == [{"name": "default", "revision": 0}]
    assert len(seen) == 3
    assert 1.0 <= elapsed < 3.0, "Retry-After: 1 was not honoured"


def test_gives_up_with_a_typed_error() -> None:
    limited = [
        (429, {"Retry-After": "0"}, {"error": {"code": "rate_limited", "message": "slow down"}})
    ]
    with scripted_server(limited) as (url, seen), pytest.raises(RateLimitError) as caught:
        AI_Gateway(api_key="k", url=url, max_retries=2).clusters()
    assert caught.value.retry_after == 0 and len(seen) == 3


def test_a_create_is_not_replayed_after_a_bad_gateway() -> None:
    """A POST answered 502 may have been carried out: replaying it could create twice."""
    with (
        scripted_server(
            [
                (200, {}, {"clusters": [{"name": "c", "revision": 0}]}),  # connect's check
                (502, {}, {"error": {"code": "bad_gateway", "message": "upstream"}}),
            ]
        ) as (url, seen),
        pytest.raises(ServerError),
    ):
        AI_Gateway(api_key="k", url=url).connect("c").create_route(path="/x", target="http://a")
    assert len(seen) == 2  # the check, then the one POST


def test_connection_refused_is_a_connection_error() -> None:
    with pytest.raises(GatewayConnectionError, match="cannot reach the gateway"):
        AI_Gateway(api_key="k", url="http://127.0.0.1:9", max_retries=1).clusters()
