"""Token limits and budgets through real processes: reserved at admission across data planes
(Redis) or in one, reconciled with what the backend reported, refunded when it failed, and
refused in the shape the openai SDK understands."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.gateway import Gateway
from tests.support.model_server import PROMPT_TOKENS
from tests.support.services import REDIS_HOST, REDIS_PORT, require
from tests.support.token_requests import body_reserving, limit_window, post

RESERVED = 100  # what each request of the concurrency tests reserves


async def burst(urls: list[str], body: bytes, count: int) -> tuple[list[httpx.Response], float]:
    """``count`` requests at once, spread over ``urls``; the answers and how long it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    urls[i % len(urls)],
                    content=body,
                    headers={"Content-Type": "application/json", "x-test-first-delay": "1.5"},
                )
                for i in range(count)
            )
        )
    return list(answers), time.monotonic() - started


def assert_at_most_the_limit(answers: list[httpx.Response], limit: int, seconds: float) -> None:
    admitted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(admitted) + len(refused) == len(answers), [a.status_code for a in answers]
    # A limit of N a minute allows a burst of N and then refills at N/60 a second.
    allowed = limit + limit / 60 * seconds
    assert 0 < len(admitted) * RESERVED <= allowed, (len(admitted), seconds)
    assert len(admitted) == limit // RESERVED  # the burst, exactly: none slipped past
    for answer in refused:
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"
        assert int(answer.headers["Retry-After"]) >= 1


def test_fifty_concurrent_requests_through_three_data_planes_never_pass_the_limit(
    tmp_path: Path,
) -> None:
    """The reproduction of a per-replica limit (LiteLLM #18730, #27736) as a test: 50
    requests of 100 tokens at once, through 3 replicas, against 1,000 tokens a minute."""
    require("Redis", REDIS_HOST, REDIS_PORT)
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_model_server("model")
        redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        for name in ("dp-a", "dp-b", "dp-c"):
            gw.add_data_plane(name, "--redis-url", redis_url)
        prefix = f"/tl-{uuid.uuid4().hex[:8]}"
        gw.add_route(path=prefix, target=backend, stripPrefix=True)
        gw.secure(prefix, authType="none", tokenLimit="1000/min")
        urls = [gw.proxy_url(i) + prefix + "/v1/chat/completions" for i in range(3)]
        answers, seconds = asyncio.run(burst(urls, body_reserving(RESERVED), 50))
        assert_at_most_the_limit(answers, 1000, seconds)
    finally:
        gw.stop()


def test_one_data_plane_without_redis_holds_the_limit_too(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_model_server("model")
        gw.add_data_plane("dp-a")
        gw.add_route(path="/local", target=backend, stripPrefix=True)
        gw.secure("/local", authType="none", tokenLimit="1000/min")
        url = gw.proxy_url() + "/local/v1/chat/completions"
        answers, seconds = asyncio.run(burst([url], body_reserving(RESERVED), 50))
        assert_at_most_the_limit(answers, 1000, seconds)
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("limits"))
    try:
        gw.start_control_plane()
        gw.add_model_server("model")
        gw.add_data_plane("dp-a")
        yield gw
    finally:
        gw.stop()


def new_endpoint(gw: Gateway, target: str | None = None, **policy: object) -> str:
    prefix = f"/e-{uuid.uuid4().hex[:8]}"
    backend = target or f"http://127.0.0.1:{gw.upstreams['model'].ready['port']}"
    gw.add_route(path=prefix, target=backend, stripPrefix=True)
    gw.secure(prefix, **({"authType": "none"} | policy))
    return gw.proxy_url() + prefix + "/v1/chat/completions"


def test_the_answer_s_usage_replaces_the_reservation(limited: Gateway) -> None:
    url = new_endpoint(limited, tokenLimit="10000/day")  # a refill too slow to blur the count
    first = post(url, body_reserving(2000), **{"x-test-tokens": "3"})
    assert first.status_code == 200, first.text
    assert first.headers["x-ratelimit-limit-tokens"] == "10000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 10000 - 2000
    second = post(url, body_reserving(2000))
    # The first used 17 + 3 tokens, not 2,000: the rest came back.
    remaining = int(second.headers["x-ratelimit-remaining-tokens"])
    assert remaining - (10000 - 2000 - (PROMPT_TOKENS + 3)) in (0, 1), remaining
    assert second.headers["x-ratelimit-reset-tokens"].endswith("s")


def test_a_failed_backend_refunds_the_whole_reservation(limited: Gateway) -> None:
    url = new_endpoint(limited, target="http://127.0.0.1:9", tokenLimit="10000/min")
    failed = post(url, body_reserving(4000))
    assert failed.status_code in (502, 503), failed.text
    again = post(url, body_reserving(4000))
    assert again.status_code in (502, 503)
    # Refused with 429 would mean the two failures were charged 8,000 of 10,000: try 9,000.
    assert post(url, body_reserving(9000)).status_code in (502, 503)


def test_a_request_larger_than_the_limit_is_told_to_ask_for_less(limited: Gateway) -> None:
    url = new_endpoint(limited, tokenLimit="500/min")
    answer = post(url, body_reserving(600))
    assert answer.status_code == 429
    assert "lower max_tokens" in answer.json()["error"]["message"]


def test_the_openai_sdk_sees_rate_limit_errors_with_their_codes(limited: Gateway) -> None:
    url = new_endpoint(limited, tokenLimit="300/min")
    client = openai.OpenAI(
        base_url=url.removesuffix("/chat/completions"), api_key="unused", max_retries=0
    )
    messages = [{"role": "user", "content": "hi"}]
    first = client.chat.completions.with_raw_response.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=250,
        extra_headers={"x-test-tokens": "250"},  # it uses what it reserved: nothing comes back
    )
    assert first.headers["x-ratelimit-limit-tokens"] == "300"
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="m", messages=messages, max_tokens=250)  # type: ignore[arg-type]
    assert refused.value.code == "rate_limit_exceeded"
    assert int(refused.value.response.headers["Retry-After"]) >= 1

    budget = new_endpoint(limited, budget={"tokens": 60, "per": "day"})
    client = openai.OpenAI(
        base_url=budget.removesuffix("/chat/completions"), api_key="unused", max_retries=0
    )
    spent = 0
    with pytest.raises(openai.RateLimitError) as quota:
        for _ in range(10):
            client.chat.completions.create(model="m", messages=messages, max_tokens=5)  # type: ignore[arg-type]
            spent += PROMPT_TOKENS + 5
    assert quota.value.code == "insufficient_quota"
    assert spent <= 60  # charged what the backend reported: 22 a request, two fit, not three
    assert spent == 44


def test_streamed_answers_are_reconciled_too(limited: Gateway) -> None:
    url = new_endpoint(limited, tokenLimit="10000/day")
    body = body_reserving(3000, stream=True)
    with httpx.stream(
        "POST",
        url,
        content=body,
        headers={"Content-Type": "application/json", "x-test-tokens": "4"},
    ) as stream:
        assert stream.status_code == 200
        assert int(stream.headers["x-ratelimit-remaining-tokens"]) == 7000
        events = [line for line in stream.iter_lines() if line.startswith("data:")]
    assert events[-1] == "data: [DONE]"
    after = post(url, body_reserving(3000))
    remaining = int(after.headers["x-ratelimit-remaining-tokens"])
    assert remaining - (10000 - 3000 - (PROMPT_TOKENS + 4)) in (0, 1), remaining


def test_the_cli_sets_and_shows_an_endpoint_s_token_limit_and_budget(limited: Gateway) -> None:
    out = limited.cli(
        "secure", "--endpoint", "/cli-limits", "--token-limit", "5000/min",
        "--budget-usd", "20", "--budget-per", "day", "--default-max-tokens", "256",
    )  # fmt: skip
    assert "5000/min" in out and "$20/day" in out
    with limited.admin() as http:
        policy = http.get("/api/v1/security/cli-limits", params={"cluster": limited.cluster}).json()
    assert policy["tokenLimit"] == "5000/min" and policy["defaultMaxTokens"] == 256
    assert policy["budget"]["usd"] == 20.0 and policy["budget"]["per"] == "day"
    with limited.admin() as http:
        bad = http.put(
            "/api/v1/security/cli-bad",
            params={"cluster": limited.cluster},
            json={"authType": "none", "budget": {"per": "day"}},
        )
    assert bad.status_code == 422, bad.text
    assert "budget" in bad.text and "a budget is in usd or in tokens" in bad.text


def stream_events(url: str, body: bytes, **headers: str) -> list[str]:
    with httpx.stream(
        "POST", url, content=body, headers={"Content-Type": "application/json", **headers}
    ) as stream:
        assert stream.status_code == 200
        return [line for line in stream.iter_lines() if line.startswith(("data:", "event:"))]


def test_a_stream_past_its_budget_is_cut_with_an_error_event(limited: Gateway) -> None:
    url = new_endpoint(
        limited, budget={"tokens": 300, "per": "day"}, defaultMaxTokens=10, onExceeded="cut"
    )
    body = json.dumps({"model": "m", "stream": True, "messages": []}).encode()
    events = stream_events(url, body, **{"x-test-tokens": "400", "x-test-pace": "0.005"})
    assert events[-2] == "event: error", events[-3:]
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["code"] == "insufficient_quota"
    content = [e for e in events if '"content"' in e]
    # Cut once what it used (17 + a token an event, at least) passed the 300: before 400.
    assert 0 < len(content) < 300, len(content)
    refused = post(url, body_reserving(40))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"


def test_without_cut_a_stream_past_its_budget_finishes_and_is_charged(limited: Gateway) -> None:
    url = new_endpoint(limited, budget={"tokens": 300, "per": "day"}, defaultMaxTokens=10)
    body = json.dumps({"model": "m", "stream": True, "messages": []}).encode()
    events = stream_events(url, body, **{"x-test-tokens": "400", "x-test-pace": "0.001"})
    assert events[-1] == "data: [DONE]" and "event: error" not in events
    assert len([e for e in events if '"content": "tok' in e]) == 400
    refused = post(url, body_reserving(40))  # it used 17 + 400: the budget is spent
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"


def test_a_dollar_budget_holds_for_streamed_and_whole_answers_and_matches_the_usage(
    limited: Gateway,
) -> None:
    """$0.10 at $1,000 per million tokens: 100 tokens' worth. Each request reserves about
    20 + 5 and uses 17 + 5; streamed and whole answers alternate until the budget is spent."""
    limited.write(
        "PATCH",
        "/api/v1/settings",
        {"prices": {"budget-model": {"input": 1000, "output": 1000}}},
        (200,),
    )
    key = limited.create_key("budget-user")
    url = new_endpoint(limited, authType="api-key", budget={"usd": 0.1, "per": "month"})
    admitted = 0
    for index in range(12):
        body = json.dumps(
            {
                "model": "budget-model",
                "max_tokens": 5,
                "stream": index % 2 == 1,
                "messages": [{"role": "user", "content": "hi"}],
            }
        ).encode()
        answer = post(url, body, Authorization=f"Bearer {key}")
        if answer.status_code == 429:
            assert answer.json()["error"]["code"] == "insufficient_quota"
            break
        assert answer.status_code == 200, answer.text
        admitted += 1
    spent = admitted * (PROMPT_TOKENS + 5) * 1000 / 1_000_000
    reservation = 30 * 1000 / 1_000_000  # a request's reservation, at most
    assert 0.1 - reservation <= spent <= 0.1, (admitted, spent)
    # What the control plane counts is what the backend reported.
    deadline = time.monotonic() + 15
    while True:
        with limited.admin() as http:
            usage = http.get(
                "/api/v1/usage",
                params={"cluster": limited.cluster, "consumer": "budget-user", "window": "5m"},
            ).json()
        if usage["total"]["requests"] >= admitted:
            break
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)
    assert usage["total"]["tokens"]["total"] == admitted * (PROMPT_TOKENS + 5)
    assert usage["total"]["costUsd"] == pytest.approx(spent, abs=1e-9)


def test_a_client_that_leaves_pays_for_what_it_got(limited: Gateway) -> None:
    url = new_endpoint(limited, tokenLimit="10000/day")
    body = body_reserving(3000, stream=True)
    headers = {"Content-Type": "application/json", "x-test-tokens": "200", "x-test-pace": "0.05"}
    with httpx.stream("POST", url, content=body, headers=headers) as stream:
        lines = stream.iter_lines()
        got = [line for line, _ in zip(lines, range(6), strict=False) if line]
    assert got  # and then it left, mid-stream
    deadline = time.monotonic() + 5
    while True:  # the gateway notices the client is gone at its next write
        answer = post(url, body_reserving(100))
        remaining = int(answer.headers["x-ratelimit-remaining-tokens"])
        if remaining > 10000 - 3000:
            break
        assert time.monotonic() < deadline, remaining
        time.sleep(0.05)
    # Charged its prompt and the few tokens it received (an estimate), not the 3,000 it
    # reserved, and not nothing either.
    assert 10000 - 100 - 200 < remaining < 10000 - 100, remaining


def test_the_openai_sdk_waits_for_retry_after_and_succeeds(limited: Gateway) -> None:
    url = new_endpoint(limited, tokenLimit="6000/min")  # 100 tokens a second come back
    client = openai.OpenAI(
        base_url=url.removesuffix("/chat/completions"), api_key="unused", max_retries=1
    )
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=5970,
        extra_headers={"x-test-tokens": "5970"},  # it uses about all it reserved
    )
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=60,
    )
    waited = time.monotonic() - started
    assert raw.http_response.status_code == 200
    assert waited >= 0.9, waited  # the SDK's retry waited the Retry-After (1 s) first


def test_a_team_shares_a_limit_on_a_model_and_each_consumer_has_its_own(
    limited: Gateway,
) -> None:
    keys = {name: limited.create_key(name) for name in ("alice", "bob", "carol")}
    limited.write(
        "PATCH",
        "/api/v1/settings",
        {
            "teams": {"research": ["alice", "bob"]},
            "limits": [
                {
                    "name": "research-gpt",
                    "team": "research",
                    "model": "team-model*",
                    "tokenLimit": "100/day",
                },
                {
                    "name": "each",
                    "consumer": "*",
                    "model": "each-model",
                    "budget": {"tokens": 70, "per": "day"},
                },
            ],
        },
        (200,),
    )
    url = new_endpoint(limited, authType="api-key")

    def ask(who: str, model: str) -> httpx.Response:
        body = json.loads(body_reserving(60))
        return post(url, json.dumps({**body, "model": model}).encode(),
                    Authorization=f"Bearer {keys[who]}")  # fmt: skip

    assert ask("alice", "team-model-1").status_code == 200  # the team: 17 + 5 used
    assert ask("bob", "team-model-2").status_code == 200  # 44 used of 100
    refused = ask("alice", "team-model-1")  # 44 + 60 reserved > 100
    assert refused.status_code == 429
    assert "team research" in refused.json()["error"]["message"]
    assert ask("carol", "team-model-1").status_code == 200  # not in the team
    assert ask("alice", "other-model").status_code == 200  # not the team's model

    first = ask("alice", "each-model")
    assert first.status_code == 200, first.text  # alice: 22 of 70
    each = ask("alice", "each-model")  # 22 + 60 reserved > 70
    assert each.status_code == 429 and each.json()["error"]["code"] == "insufficient_quota"
    assert ask("bob", "each-model").status_code == 200  # bob's own count
    team = limit_window(limited, "limit research-gpt (team research)", "team:research", 44)
    assert team["tokens"] == 2 * (PROMPT_TOKENS + 5) and team["limit"] == 100
    assert team["periodSeconds"] == 86_400 and team["windowSeconds"] == 3600


def test_usage_shows_what_each_token_limit_s_window_holds(limited: Gateway) -> None:
    key = limited.create_key("frank")
    url = new_endpoint(limited, authType="api-key", tokenLimit="1000/min")
    for _ in range(2):
        answer = post(url, body_reserving(60), Authorization=f"Bearer {key}")
        assert answer.status_code == 200, answer.text
    endpoint = "on " + url.removeprefix(limited.proxy_url()).removesuffix("/v1/chat/completions")
    window = limit_window(limited, endpoint, "consumer:frank", 44)
    assert window == {"scope": endpoint, "caller": "consumer:frank", "limit": 1000,
                      "periodSeconds": 60.0, "windowSeconds": 60.0, "tokens": 44,
                      "share": 0.044}  # fmt: skip
    printed = limited.cli("usage", "--consumer", "frank")
    assert "token limits" in printed and endpoint in printed and "44 tokens" in printed


def test_each_api_key_can_have_its_own_limit(limited: Gateway) -> None:
    first_key, second_key = limited.create_key("dave"), limited.create_key("dave")
    with limited.admin() as http:
        settings = http.get("/api/v1/settings", params={"cluster": limited.cluster}).json()
    limits = [*settings.get("limits", []), {"name": "per-key", "key": "*", "model": "key-model",
                                            "tokenLimit": "70/day"}]  # fmt: skip
    limited.write("PATCH", "/api/v1/settings", {"limits": limits}, (200,))
    url = new_endpoint(limited, authType="api-key")
    body = json.dumps({**json.loads(body_reserving(60)), "model": "key-model"}).encode()
    assert post(url, body, Authorization=f"Bearer {first_key}").status_code == 200
    refused = post(url, body, Authorization=f"Bearer {first_key}")  # 22 + 60 > 70
    assert refused.status_code == 429 and "each API key" in refused.json()["error"]["message"]
    assert post(url, body, Authorization=f"Bearer {second_key}").status_code == 200


def test_a_body_whose_size_is_unknown_is_refused_where_tokens_are_limited(
    limited: Gateway,
) -> None:
    url = new_endpoint(limited, tokenLimit="10000/min")
    body = body_reserving(100)

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    chunked = httpx.post(url, content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 411 and chunked.json()["error"]["code"] == "length_required"
    assert post(url, body).status_code == 200  # with its length it is counted and served


def test_limits_that_fail_closed_say_so(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_model_server("model")
        gw.add_data_plane(
            "dp-a", "--redis-url", "redis://127.0.0.1:9/0", "--rate-limit-failure", "closed"
        )
        gw.add_route(path="/closed", target=backend, stripPrefix=True)
        gw.secure("/closed", authType="none", tokenLimit="1000/min")
        answer = post(gw.proxy_url() + "/closed/v1/chat/completions", body_reserving(100))
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "limits_unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
    finally:
        gw.stop()
