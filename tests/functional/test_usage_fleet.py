"""Usage of two data planes adds up at the control plane, per consumer and model, with cost from
the cluster's price table; ``ai-gateway-cli usage`` and ``metrics --type tokens`` print it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.gateway import Gateway
from tests.support.model_server import CACHED_TOKENS, PROMPT_TOKENS

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
PRICE = {"input": 2.5, "output": 10.0, "cachedInput": 1.25}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("usage"))
    try:
        gw.start_control_plane("--telemetry-interval", "0.3")
        backend = gw.add_model_server("model")
        gw.add_data_plane("dp-one")
        gw.add_data_plane("dp-two")
        gw.apply(
            {
                "routes": [{"name": "chat", "path": "/v1/chat/completions", "target": backend}],
                "security": [{"endpoint": "/v1/chat/completions", "authType": "api-key"}],
                "prices": {"gpt-4o": PRICE},
            }
        )
        yield gw
    finally:
        gw.stop()


def ask(gw: Gateway, plane: int, key: str, output_tokens: int, stream: bool = False) -> None:
    client = openai.OpenAI(base_url=gw.proxy_url(plane) + "/v1", api_key=key, max_retries=0)
    headers = {"x-test-tokens": str(output_tokens)}
    if stream:
        for _ in client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=headers
        ):
            pass
    else:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=headers)


def cost(requests: int, output: int) -> float:
    fresh = PROMPT_TOKENS - CACHED_TOKENS
    return (
        requests * (fresh * PRICE["input"] + CACHED_TOKENS * PRICE["cachedInput"])
        + output * PRICE["output"]
    ) / 1_000_000


def usage_until(gw: Gateway, requests: int, **params: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        with gw.admin() as http:
            answer = http.get(
                "/api/v1/usage", params={"cluster": gw.cluster, "window": "5m", **params}
            )
        assert answer.status_code == 200, answer.text
        usage: dict[str, Any] = answer.json()
        if usage["total"]["requests"] >= requests:
            return usage
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)


def test_usage_of_two_data_planes_sums_per_consumer_and_model(gateway: Gateway) -> None:
    team_a, team_b = gateway.create_key("team-a"), gateway.create_key("team-b")
    ask(gateway, 0, team_a, 4)
    ask(gateway, 1, team_a, 6, stream=True)
    ask(gateway, 1, team_a, 2)
    ask(gateway, 0, team_b, 3, stream=True)
    usage = usage_until(gateway, 4)
    by_consumer = {c["consumer"]: c for c in usage["consumers"]}
    a, b = by_consumer["team-a"], by_consumer["team-b"]
    assert a["requests"] == 3 and b["requests"] == 1
    assert a["tokens"] == {
        "input": 3 * PROMPT_TOKENS,
        "output": 12,
        "cachedInput": 3 * CACHED_TOKENS,
        "reasoning": 6,
        "total": 3 * PROMPT_TOKENS + 12,
    }
    assert b["tokens"]["output"] == 3 and b["tokens"]["input"] == PROMPT_TOKENS
    assert a["models"][0]["model"] == "gpt-4o"
    assert a["costUsd"] == pytest.approx(cost(3, 12), abs=1e-6)
    assert b["costUsd"] == pytest.approx(cost(1, 3), abs=1e-6)
    assert usage["total"]["costUsd"] == pytest.approx(cost(4, 15), abs=1e-6)
    only_b = usage_until(gateway, 1, consumer="team-b")
    assert [c["consumer"] for c in only_b["consumers"]] == ["team-b"]
    assert usage_until(gateway, 0, model="other-model")["consumers"] == []

    # The CLI prints the same figures.
    printed = json.loads(
        gateway.cli("usage", "--consumer", "team-a", "--window", "5m", "--format", "json")
    )
    assert printed["consumers"][0]["tokens"]["output"] == 12
    table = gateway.cli("usage", "--window", "5m")
    assert "team-a" in table and "team-b" in table and "gpt-4o" in table
    tokens = json.loads(
        gateway.cli("metrics", "--type", "tokens", "--window", "5m", "--format", "json")
    )
    model = next(m for m in tokens["models"] if m["model"] == "gpt-4o")
    assert model["tokens"]["output"] == 15 and model["requests"] == 4
    assert model["ttftP50Ms"] is not None and model["tokensPerSecond"] > 0
    assert "gpt-4o" in gateway.cli("metrics", "--type", "tokens", "--window", "5m")


def test_usage_rejects_a_bad_window(gateway: Gateway) -> None:
    with gateway.admin() as http:
        answer = http.get("/api/v1/usage", params={"cluster": gateway.cluster, "window": "2d"})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "window"


def test_the_sdk_reads_usage(gateway: Gateway) -> None:
    from ai_gateway import AI_Gateway

    assert gateway.control_plane is not None
    client = AI_Gateway(api_key=gateway.control_plane.api_key, url=gateway.control_plane.url)
    answer = client.connect(gateway.cluster).usage(window="5m")
    assert answer["total"]["requests"] >= 4
    assert httpx.get(gateway.control_plane.url + "/api/v1/usage").status_code == 401
