"""AI traffic through real processes: routing on the model, virtual model names, the model list,
upstream credentials, and usage counted as the backend reported it, streamed and not, with the
official ``openai`` and ``anthropic`` SDKs as clients and a fake model server as the backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families

from tests.support.access_log import access_line as read_access_line
from tests.support.gateway import Gateway
from tests.support.model_server import CACHED_TOKENS, PROMPT_TOKENS, REASONING_TOKENS

SECRET = "sk-stored-secret-0123456789"
ENV_SECRET = "sk-from-environment-987654321"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
CLAUDE_MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("ai"))
    try:
        gw.start_control_plane()
        gw.add_model_server("big")
        gw.add_model_server("small")
        gw.add_data_plane("dp-ai", env={"TEST_PROVIDER_KEY": ENV_SECRET})
        yield gw
    finally:
        gw.stop()


def url(gw: Gateway, name: str) -> str:
    return f"http://127.0.0.1:{gw.upstreams[name].ready['port']}"


def last_request(gw: Gateway, name: str) -> dict[str, Any]:
    return dict(httpx.get(url(gw, name) + "/last").json())


def samples(gw: Gateway, index: int = 0) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{gw.data_planes[index].ready['ops_port']}/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def tokens(gw: Gateway, route: str, model: str, kind: str) -> float:
    labels = frozenset({"route": route, "model": model, "type": kind}.items())
    return samples(gw).get(("aigw_tokens_total", labels), 0.0)


def access_line(gw: Gateway, request_id: str) -> dict[str, Any]:
    return read_access_line(gw.data_planes[0], request_id)


def two_models(gw: Gateway, **extra: Any) -> dict[str, Any]:
    return {
        "routes": [
            {
                "name": "gpt",
                "path": "/v1/chat/completions",
                "models": ["gpt-4o"],
                "target": url(gw, "big"),
            },
            {
                "name": "llama",
                "path": "/v1/chat/completions",
                "models": ["llama-3*", "chat-large"],
                "targets": [
                    {"url": url(gw, "small"), "model": "meta-llama/Llama-3.1-70B-Instruct"}
                ],
            },
            {"name": "messages", "path": "/v1/messages", "target": url(gw, "big")},
            {"name": "completions", "path": "/v1/completions", "target": url(gw, "small")},
            {"name": "embeddings", "path": "/v1/embeddings", "target": url(gw, "small")},
            *extra.pop("routes", []),
        ],
        **extra,
    }


def test_the_model_chooses_the_backend_and_a_virtual_name_is_rewritten(gateway: Gateway) -> None:
    gateway.apply(two_models(gateway))
    client = openai.OpenAI(base_url=gateway.proxy_url() + "/v1", api_key="unused", max_retries=0)
    answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.model == "gpt-4o" and last_request(gateway, "big")["body"]["model"] == "gpt-4o"
    answer = client.chat.completions.create(model="chat-large", messages=MESSAGES)
    seen = last_request(gateway, "small")
    assert seen["body"]["model"] == "meta-llama/Llama-3.1-70B-Instruct"
    assert seen["body"]["messages"] == MESSAGES
    assert int(seen["headers"]["Content-Length"]) == len(
        json.dumps(seen["body"], separators=(",", ":"))
    )
    assert answer.model == "meta-llama/Llama-3.1-70B-Instruct"  # what the backend said
    client.chat.completions.create(model="llama-3.1-8b", messages=MESSAGES)
    assert last_request(gateway, "small")["body"]["model"] == "meta-llama/Llama-3.1-70B-Instruct"
    # The header overrides the body.
    answer = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"x-aigw-model": "llama-3-70b"},
    )
    assert answer.model == "meta-llama/Llama-3.1-70B-Instruct"


def test_a_request_without_a_usable_model_is_told_what_is_missing(gateway: Gateway) -> None:
    gateway.apply(two_models(gateway))
    proxy = gateway.proxy_url() + "/v1/chat/completions"
    for body, words in (
        (b'{"messages": []}', "no 'model'"),
        (b"not json", "not JSON"),
        (b'{"model": 7}', "not a model name"),
        (b"[1, 2]", "not a JSON object"),
    ):
        answer = httpx.post(proxy, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request" and words in error["message"]
    unknown = httpx.post(proxy, json={"model": "gpt-5", "messages": []})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(
            base_url=gateway.proxy_url() + "/v1", api_key="x", max_retries=0
        ).chat.completions.create(model="gpt-5", messages=MESSAGES)
    # A route that needs no model takes what the model routes do not.
    gateway.apply(
        two_models(
            gateway,
            routes=[
                {"name": "rest", "path": "/v1/chat/completions", "target": url(gateway, "big")}
            ],
        ),
    )
    answer = httpx.post(proxy, json={"model": "gpt-5", "messages": []})
    assert answer.status_code == 200 and last_request(gateway, "big")["body"]["model"] == "gpt-5"
    answer = httpx.post(proxy, content=b'{"messages": []}')
    assert answer.status_code == 200  # the fallback route's backend answered
    assert "model" not in last_request(gateway, "big")["body"]


def test_the_model_list_shows_what_the_key_may_use(gateway: Gateway) -> None:
    gateway.apply(
        two_models(
            gateway,
            security=[{"endpoint": "/v1/chat/completions", "authType": "api-key"}],
        ),
    )
    everything = gateway.create_key("team-all")
    only_gpt = gateway.create_key("team-gpt", routes=["gpt"])
    listed = openai.OpenAI(base_url=gateway.proxy_url() + "/v1", api_key=everything).models.list()
    assert sorted(m.id for m in listed.data) == ["chat-large", "gpt-4o"]
    listed = openai.OpenAI(base_url=gateway.proxy_url() + "/v1", api_key=only_gpt).models.list()
    assert [m.id for m in listed.data] == ["gpt-4o"]
    anonymous = httpx.get(gateway.proxy_url() + "/v1/models").json()
    assert anonymous == {"object": "list", "data": []}
    wrong = httpx.get(gateway.proxy_url() + "/v1/models", headers={"Authorization": "Bearer no"})
    assert wrong.json()["data"] == []


def test_usage_of_whole_answers_is_counted_as_reported(gateway: Gateway) -> None:
    gateway.apply(two_models(gateway))
    client = openai.OpenAI(base_url=gateway.proxy_url() + "/v1", api_key="x", max_retries=0)
    before = {
        k: tokens(gateway, "gpt", "gpt-4o", k)
        for k in ("input", "output", "cached_input", "reasoning")
    }
    answer = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"x-test-tokens": "9"},
    )
    request_id = answer.headers["x-request-id"]
    assert answer.parse().usage is not None and answer.parse().usage.completion_tokens == 9  # type: ignore[union-attr]
    assert tokens(gateway, "gpt", "gpt-4o", "input") - before["input"] == PROMPT_TOKENS
    assert tokens(gateway, "gpt", "gpt-4o", "output") - before["output"] == 9
    assert (
        tokens(gateway, "gpt", "gpt-4o", "cached_input") - before["cached_input"] == CACHED_TOKENS
    )
    assert tokens(gateway, "gpt", "gpt-4o", "reasoning") - before["reasoning"] == REASONING_TOKENS
    line = access_line(gateway, request_id)
    assert line["model"] == "gpt-4o" and line["responseModel"] == "gpt-4o"
    assert (line["inputTokens"], line["outputTokens"]) == (PROMPT_TOKENS, 9)
    assert (line["cachedTokens"], line["reasoningTokens"]) == (CACHED_TOKENS, REASONING_TOKENS)
    assert line["usageEstimated"] is False
    # Anthropic's shape: input counts the cached tokens too.
    claude = anthropic.Anthropic(base_url=gateway.proxy_url(), api_key="x", max_retries=0)
    message = claude.messages.create(
        model="claude-sonnet-4",
        max_tokens=64,
        messages=CLAUDE_MESSAGES,
        extra_headers={"x-test-tokens": "4"},
    )
    assert message.usage.output_tokens == 4
    assert tokens(gateway, "messages", "claude-sonnet-4", "input") >= PROMPT_TOKENS
    assert tokens(gateway, "messages", "claude-sonnet-4", "output") >= 4
    embedded = client.embeddings.create(model="text-embed", input="hello")
    assert embedded.usage.prompt_tokens == PROMPT_TOKENS
    assert tokens(gateway, "embeddings", "text-embed", "input") >= PROMPT_TOKENS


def test_openai_streams_get_usage_without_the_client_seeing_an_extra_chunk(
    gateway: Gateway,
) -> None:
    gateway.apply(two_models(gateway))
    client = openai.OpenAI(base_url=gateway.proxy_url() + "/v1", api_key="x", max_retries=0)
    before = tokens(gateway, "gpt", "gpt-4o", "output")
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-test-tokens": "6"},
    )
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks) and all(chunk.choices for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "".join(f"tok{i} " for i in range(6))
    assert last_request(gateway, "big")["body"]["stream_options"] == {"include_usage": True}
    assert tokens(gateway, "gpt", "gpt-4o", "output") - before == 6
    # A client that asked for usage gets it, once.
    before = tokens(gateway, "gpt", "gpt-4o", "output")
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-test-tokens": "3"},
    )
    usages = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert len(usages) == 1 and usages[0].completion_tokens == 3
    assert tokens(gateway, "gpt", "gpt-4o", "output") - before == 3
    # The raw stream: exactly the events the backend sent, minus the usage chunk.
    with httpx.stream(
        "POST",
        gateway.proxy_url() + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES, "stream": True},
        headers={"x-test-tokens": "2"},
    ) as raw:
        body = b"".join(raw.iter_bytes())
    events = [e for e in body.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]" and len(events) == 1 + 2 + 1 + 1
    assert b'"usage"' not in body


def test_anthropic_streams_are_counted_from_their_events(gateway: Gateway) -> None:
    gateway.apply(two_models(gateway))
    claude = anthropic.Anthropic(base_url=gateway.proxy_url(), api_key="x", max_retries=0)
    before_in = tokens(gateway, "messages", "claude-haiku", "input")
    before_out = tokens(gateway, "messages", "claude-haiku", "output")
    with claude.messages.stream(
        model="claude-haiku",
        max_tokens=64,
        messages=CLAUDE_MESSAGES,
        extra_headers={"x-test-tokens": "7"},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "".join(f"tok{i} " for i in range(7)) and final.usage.output_tokens == 7
    assert tokens(gateway, "messages", "claude-haiku", "input") - before_in == PROMPT_TOKENS
    assert tokens(gateway, "messages", "claude-haiku", "output") - before_out == 7
    labels = frozenset(
        {"route": "messages", "model": "claude-haiku", "type": "cached_input"}.items()
    )
    assert samples(gateway)[("aigw_tokens_total", labels)] >= CACHED_TOKENS


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_stream_cut_midway_is_counted_as_estimated(gateway: Gateway, path: str) -> None:
    gateway.apply(two_models(gateway))
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 50,
    }
    request_id = f"cut-{path.rsplit('/', 1)[-1]}"
    with httpx.stream(
        "POST",
        gateway.proxy_url() + path,
        json=body,
        headers={"x-test-tokens": "8", "x-test-cut-after": "3", "X-Request-Id": request_id},
    ) as raw:
        received = b"".join(raw.iter_bytes())
    assert b"event: error" in received and b"upstream_reset" in received
    line = access_line(gateway, request_id)
    assert line["usageEstimated"] is True and line["error"] == "upstream_reset"
    # Three content events ("tok0 " ...) reached the client: the documented estimate is the
    # larger of the content events and the content's bytes / 4.
    assert line["outputTokens"] == max(3, (3 * len("tok0 ") + 3) // 4)
    assert line["inputTokens"] > 0


def test_time_to_first_token_and_per_output_token_follow_the_backend(gateway: Gateway) -> None:
    gateway.apply(two_models(gateway))
    with httpx.stream(
        "POST",
        gateway.proxy_url() + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES, "stream": True},
        headers={
            "x-test-tokens": "11",
            "x-test-first-delay": "0.2",
            "x-test-pace": "0.05",
            "X-Request-Id": "paced",
        },
    ) as raw:
        assert raw.status_code == 200
        b"".join(raw.iter_bytes())
    line = access_line(gateway, "paced")
    assert 200 <= line["ttftMs"] <= 220, line
    assert 45 <= line["tpotMs"] <= 55, line  # the backend paced its tokens 50 ms apart
    metric = samples(gateway)
    assert any(
        name == "gen_ai_server_time_to_first_token_seconds_bucket"
        and ("gen_ai_request_model", "gpt-4o") in labels
        and ("le", "0.25") in labels
        and value >= 1
        for (name, labels), value in metric.items()
    )


def test_upstream_credentials_reach_the_backend_and_nowhere_else(gateway: Gateway) -> None:
    document = two_models(gateway)
    document["routes"][0]["targets"] = [
        {
            "url": url(gateway, "big"),
            "auth": {"header": "Authorization", "value": "Bearer ${TEST_PROVIDER_KEY}"},
        }
    ]
    del document["routes"][0]["target"]
    document["routes"][2]["targets"] = [
        {"url": url(gateway, "big"), "auth": {"header": "x-api-key", "value": SECRET}}
    ]
    del document["routes"][2]["target"]
    document["security"] = [{"endpoint": "/v1/chat/completions", "authType": "api-key"}]
    gateway.apply(document)
    key = gateway.create_key("team-creds")
    client = openai.OpenAI(base_url=gateway.proxy_url() + "/v1", api_key=key, max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    seen = last_request(gateway, "big")["headers"]
    assert seen["Authorization"] == f"Bearer {ENV_SECRET}"  # the gateway's key is not forwarded
    claude = anthropic.Anthropic(base_url=gateway.proxy_url(), api_key="client-key", max_retries=0)
    claude.messages.create(model="claude-x", max_tokens=8, messages=CLAUDE_MESSAGES)
    assert last_request(gateway, "big")["headers"]["x-api-key"] == SECRET
    with gateway.admin() as http:
        routes = http.get("/api/v1/routes", params={"cluster": gateway.cluster}).text
        exported = http.get("/api/v1/config", params={"cluster": gateway.cluster}).json()
        one = http.get("/api/v1/routes/messages", params={"cluster": gateway.cluster}).json()
    assert SECRET not in routes and "<redacted>" in routes and "${TEST_PROVIDER_KEY}" in routes
    assert one["targets"][0]["auth"] == {"header": "x-api-key", "value": "<redacted>"}
    assert SECRET not in json.dumps(exported)
    # A dry run that changes the secret says the route changes, and shows neither value.
    rotated = json.loads(json.dumps(exported))
    rotated["routes"][2]["targets"][0]["auth"]["value"] = "sk-rotated-secret-000111"
    with gateway.admin() as http:
        dry = http.post(
            "/api/v1/config",
            params={"cluster": gateway.cluster, "dryRun": "true"},
            json=rotated,
        )
    assert dry.status_code == 200, dry.text
    assert [c["key"] for c in dry.json()["changes"]] == ["messages"]
    assert SECRET not in dry.text and "sk-rotated-secret-000111" not in dry.text
    # Applying the export back keeps the stored secret.
    gateway.apply(
        {
            **exported,
            "routes": [
                *exported["routes"],
                {"name": "extra", "path": "/x", "target": url(gateway, "big")},
            ],
        },
    )
    claude.messages.create(model="claude-x", max_tokens=8, messages=CLAUDE_MESSAGES)
    assert last_request(gateway, "big")["headers"]["x-api-key"] == SECRET
    text = httpx.get(f"http://127.0.0.1:{gateway.data_planes[0].ready['ops_port']}/metrics").text
    for where in (text, gateway.data_planes[0].logs(), gateway.control_plane.logs()):  # type: ignore[union-attr]
        assert SECRET not in where and ENV_SECRET not in where
    cli_out = gateway.cli("routes", "list", "--format", "json")
    assert SECRET not in cli_out


def test_a_missing_environment_credential_is_a_clear_502(gateway: Gateway) -> None:
    document = two_models(gateway)
    document["routes"][0]["targets"] = [
        {
            "url": url(gateway, "big"),
            "auth": {"header": "Authorization", "value": "Bearer ${NOT_SET_ANYWHERE}"},
        }
    ]
    del document["routes"][0]["target"]
    gateway.apply(document)
    answer = httpx.post(
        gateway.proxy_url() + "/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES}
    )
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert (
        error["code"] == "upstream_credentials_missing" and "NOT_SET_ANYWHERE" in error["message"]
    )
