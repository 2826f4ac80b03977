"""Model fallbacks through real processes: tried on 429, 5xx, timeouts and context-length
errors with the model rewritten, never once the answer began, and a target whose context
window is too small skipped without a call."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.access_log import access_line
from tests.support.gateway import Gateway
from tests.support.model_server import PROMPT_TOKENS


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path_factory.mktemp("fallbacks"))
    try:
        gateway.start_control_plane()
        gateway.add_model_server("primary")
        gateway.add_model_server("backup")
        gateway.add_data_plane("dp-a")
        yield gateway
    finally:
        gateway.stop()


def server(gw: Gateway, name: str) -> str:
    return f"http://127.0.0.1:{gw.upstreams[name].ready['port']}"


def seen(gw: Gateway, name: str) -> list[str]:
    return list(httpx.get(server(gw, name) + "/seen").json())


def route(gw: Gateway, **fields: Any) -> str:
    """A route of its own (a fresh prefix); the chat completions URL through it."""
    prefix = f"/fb-{uuid.uuid4().hex[:8]}"
    gw.add_route(path=prefix, stripPrefix=True, **fields)
    return gw.proxy_url() + prefix + "/v1/chat/completions"


def ask(url: str, **headers: str) -> httpx.Response:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def logged(gw: Gateway, answer: httpx.Response) -> dict[str, Any]:
    return access_line(gw.data_planes[0], answer.headers["X-Request-Id"])


@pytest.mark.parametrize(
    ("failing", "reason"),
    [("fail-429", "429"), ("fail-503", "5xx"), ("ctx-8k", "context_length")],
)
def test_a_failed_answer_falls_back_with_the_model_rewritten(
    gw: Gateway, failing: str, reason: str
) -> None:
    model = f"{failing}-{uuid.uuid4().hex[:6]}"
    url = route(
        gw,
        targets=[{"url": server(gw, "primary"), "model": model}],
        fallbacks=[{"model": f"good-{model}"}],
        retries={"attempts": 1},
    )
    answer = ask(url)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == f"good-{model}"  # what the backend answered with
    calls = seen(gw, "primary")
    assert calls[calls.index(model) + 1] == f"good-{model}"  # the same backend, renamed
    line = logged(gw, answer)
    assert line["fallback"] == f"good-{model}" and line["fallbackReason"] == reason
    assert line["responseModel"] == f"good-{model}"


def test_a_timeout_falls_back_to_another_target(gw: Gateway) -> None:
    url = route(
        gw,
        targets=[{"url": server(gw, "primary"), "model": "slow-model"}],
        timeouts={"firstByte": 1},
        fallbacks=[{"target": server(gw, "backup"), "model": "quick-model"}],
    )
    answer = ask(url)
    assert answer.status_code == 200 and answer.json()["model"] == "quick-model"
    assert "quick-model" in seen(gw, "backup")
    assert logged(gw, answer)["fallbackReason"] == "timeout"
    metrics = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/metrics").text
    counted = [line for line in metrics.splitlines() if line.startswith("aigw_fallbacks_total{")]
    assert any('fallback="quick-model",reason="timeout"' in line and line.endswith(" 1.0")
               for line in counted), counted  # fmt: skip


def test_the_conditions_can_be_chosen(gw: Gateway) -> None:
    url = route(
        gw,
        targets=[{"url": server(gw, "primary"), "model": "fail-429-only"}],
        fallbacks=[{"model": "never-tried"}],
        fallbackOn=["5xx"],
        retries={"attempts": 1},
    )
    answer = ask(url)
    assert answer.status_code == 429  # the backend's own 429, relayed
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert "never-tried" not in seen(gw, "primary")


def test_no_fallback_once_the_answer_began(gw: Gateway) -> None:
    url = route(
        gw,
        targets=[{"url": server(gw, "primary"), "model": "streams-then-dies"}],
        fallbacks=[{"target": server(gw, "backup"), "model": "must-not-be-called"}],
    )
    body = {"model": "chat", "stream": True, "messages": []}
    with httpx.stream("POST", url, json=body, headers={"x-test-cut-after": "2"}) as stream:
        assert stream.status_code == 200
        lines = [line for line in stream.iter_lines() if line]
    assert "event: error" in lines  # the cut stream ends with an error event
    assert "must-not-be-called" not in seen(gw, "backup")


def test_a_target_whose_context_window_is_too_small_is_skipped_without_a_call(
    gw: Gateway,
) -> None:
    url = route(
        gw,
        targets=[{"url": server(gw, "primary"), "model": "tiny-window", "contextWindow": 10}],
        fallbacks=[{"target": server(gw, "backup"), "model": "big-window"}],
    )
    answer = ask(url)  # its body is ~80 bytes: about 20 tokens
    assert answer.status_code == 200 and answer.json()["model"] == "big-window"
    assert "tiny-window" not in seen(gw, "primary")
    only = route(
        gw, targets=[{"url": server(gw, "primary"), "model": "tiny-2", "contextWindow": 10}]
    )
    refused = ask(only)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "context_length_exceeded"
    assert "tiny-2" not in seen(gw, "primary")


def test_a_fallback_s_answer_is_what_the_token_limit_charges(gw: Gateway) -> None:
    prefix = f"/fbl-{uuid.uuid4().hex[:8]}"
    gw.add_route(
        path=prefix,
        stripPrefix=True,
        targets=[{"url": server(gw, "primary"), "model": "fail-503-charged"}],
        fallbacks=[{"model": "answers"}],
        retries={"attempts": 1},
    )
    gw.secure(prefix, authType="none", tokenLimit="10000/day", defaultMaxTokens=1000)
    client = openai.OpenAI(base_url=gw.proxy_url() + prefix + "/v1", api_key="x", max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    first = client.chat.completions.with_raw_response.create(model="chat", messages=messages)  # type: ignore[arg-type]
    reserved = 10000 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert first.parse().model == "answers"
    second = client.chat.completions.with_raw_response.create(model="chat", messages=messages)  # type: ignore[arg-type]
    remaining = int(second.headers["x-ratelimit-remaining-tokens"])
    # The failed try cost nothing; the fallback's answer its usage (17 + 5), no more.
    assert remaining - (10000 - (PROMPT_TOKENS + 5) - reserved) in (0, 1), remaining


def test_the_route_s_total_timeout_covers_its_fallbacks(gw: Gateway) -> None:
    url = route(
        gw,
        targets=[{"url": server(gw, "primary"), "model": "slow-first"}],
        timeouts={"firstByte": 1, "total": 1.5},
        fallbacks=[{"target": server(gw, "backup"), "model": "slow-second"}],
    )
    started = time.monotonic()
    answer = ask(url)
    took = time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert took < 1.85, took  # 1.5 s in all, not 1 s and then a fresh 1 s for the fallback
