"""least-loaded balancing reads the model servers' own /metrics (fake vLLM and SGLang
servers with a queue the test sets) through a real data plane."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import Gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path_factory.mktemp("least-loaded"))
    try:
        gateway.start_control_plane()
        gateway.add_model_server("vllm-a", model="vllm-a", metrics="vllm")
        gateway.add_model_server("vllm-b", model="vllm-b", metrics="vllm-old")
        gateway.add_model_server("sglang-c", model="sglang-c", metrics="sglang")
        gateway.add_data_plane("dp")
        yield gateway
    finally:
        gateway.stop()


def url_of(gw: Gateway, name: str) -> str:
    return f"http://127.0.0.1:{gw.upstreams[name].ready['port']}"


def set_load(gw: Gateway, name: str, **load: Any) -> None:
    httpx.post(url_of(gw, name) + "/load", json=load).raise_for_status()


def readyz(gw: Gateway) -> dict[str, dict[str, Any]]:
    ready = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/readyz").json()
    return {t["target"]: t for t in ready["targets"]}


def until_read(gw: Gateway, name: str, **expected: Any) -> None:
    """Wait until the data plane has scraped ``expected`` from ``name``."""
    deadline = time.monotonic() + 10
    while True:
        load = readyz(gw).get(url_of(gw, name), {}).get("load") or {}
        if all(load.get(k) == v for k, v in expected.items()):
            return
        assert time.monotonic() < deadline, load
        time.sleep(0.05)


def answers(gw: Gateway, path: str, count: int = 20, prompt: str = "hi") -> Counter[str]:
    seen: Counter[str] = Counter()
    body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
    for _ in range(count):
        answer = httpx.post(gw.proxy_url() + path + "/v1/chat/completions", json=body)
        assert answer.status_code == 200, answer.text
        seen[answer.json()["model"]] += 1
    return seen


def route(gw: Gateway, path: str, *servers: str, **least: Any) -> None:
    gw.add_route(path=path, stripPrefix=True, loadBalancer="least-loaded",
                 targets=[url_of(gw, s) for s in servers],
                 leastLoaded={"scrapeInterval": 0.2, **least})  # fmt: skip


def test_new_requests_go_away_from_a_queue_or_a_full_kv_cache(gw: Gateway) -> None:
    route(gw, "/ll", "vllm-a", "vllm-b")
    until_read(gw, "vllm-a", waiting=0)
    until_read(gw, "vllm-b", waiting=0)
    assert set(answers(gw, "/ll")) == {"vllm-a", "vllm-b"}  # idle: shared
    set_load(gw, "vllm-a", waiting=12)
    until_read(gw, "vllm-a", waiting=12)
    assert answers(gw, "/ll") == Counter({"vllm-b": 20})
    set_load(gw, "vllm-a", waiting=0, kvCache=0.99)
    until_read(gw, "vllm-a", waiting=0, kvCache=0.99)
    assert answers(gw, "/ll") == Counter({"vllm-b": 20})
    set_load(gw, "vllm-a", kvCache=0.0)
    until_read(gw, "vllm-a", kvCache=0.0)
    assert set(answers(gw, "/ll")) == {"vllm-a", "vllm-b"}


def test_sglang_servers_are_read_too(gw: Gateway) -> None:
    route(gw, "/ll-sglang", "sglang-c", "vllm-b")
    set_load(gw, "sglang-c", waiting=5)
    until_read(gw, "sglang-c", waiting=5)
    assert answers(gw, "/ll-sglang") == Counter({"vllm-b": 20})
    set_load(gw, "sglang-c", waiting=0)


def test_with_metrics_gone_it_falls_back_to_least_request_and_says_so(gw: Gateway) -> None:
    route(gw, "/ll-gone", "vllm-a", "vllm-b")
    set_load(gw, "vllm-a", waiting=12)
    until_read(gw, "vllm-a", waiting=12)
    set_load(gw, "vllm-a", gone=True)  # /metrics answers 404 from now on
    until_read(gw, "vllm-a", stale=True)
    assert set(answers(gw, "/ll-gone")) == {"vllm-a", "vllm-b"}  # its old queue no longer counts
    metrics = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/metrics").text
    fallbacks = [line for line in metrics.splitlines()
                 if line.startswith("aigw_least_loaded_fallbacks_total{") and "ll-gone" in line]  # fmt: skip
    assert fallbacks and float(fallbacks[0].split()[-1]) >= 20, fallbacks
    set_load(gw, "vllm-a", gone=False, waiting=0)
    until_read(gw, "vllm-a", stale=False, waiting=0)


def test_prefix_affinity_keeps_a_prompt_on_one_server_while_it_is_not_overloaded(
    gw: Gateway,
) -> None:
    route(gw, "/ll-prefix", "vllm-a", "vllm-b", prefixAffinity=32)
    until_read(gw, "vllm-a", waiting=0)
    system = "You answer questions about the gateway. " * 4
    kept = answers(gw, "/ll-prefix", 12, prompt=system + "first question")
    assert len(kept) == 1, kept
    (server,) = kept
    assert answers(gw, "/ll-prefix", 6, prompt=system + "another question") == {server: 6}
    spread: Counter[str] = Counter()
    for index in range(20):
        spread.update(answers(gw, "/ll-prefix", 1, prompt=f"{index} {json.dumps(index)} prompt"))
    assert len(spread) == 2, spread  # other prefixes go elsewhere too
    set_load(gw, server, waiting=4)
    until_read(gw, server, waiting=4)
    moved = answers(gw, "/ll-prefix", 6, prompt=system + "first question")
    assert server not in moved, moved
    set_load(gw, server, waiting=0)
