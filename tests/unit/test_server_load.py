"""What model servers say of their load, and how least-loaded ranks them."""

from __future__ import annotations

import time
from collections import Counter

from data_plane.ai.prompt_prefix import prompt_prefix
from data_plane.upstream.server_load import ServerLoad, parse_load
from data_plane.upstream.targets import Target, UpstreamGroup

VLLM = b"""# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llama {3} 70b"} 4.0
vllm:num_requests_waiting{engine="1",model_name="llama {3} 70b"} 2.0
vllm:num_requests_running{engine="0",model_name="llama {3} 70b"} 7.0
vllm:kv_cache_usage_perc{engine="0",model_name="llama {3} 70b"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="llama {3} 70b"} 0.75
vllm:num_requests_waiting_created 1.7e9
vllm:e2e_request_latency_seconds_bucket{le="1.0"} 3
"""


def test_vllm_gauges_are_summed_and_the_kv_cache_is_the_fullest_engine() -> None:
    load = parse_load(VLLM, 100.0, 2, fresh_for=3.0)
    assert load is not None
    assert (load.waiting, load.running, load.kv_cache) == (6.0, 7.0, 0.75)
    assert load.fresh(102.9) and not load.fresh(103.0)
    # 6 waiting + 1 sent since the scrape + 7/8 running + 4 * 0.75
    assert load.score(3) == 6 + 1 + 7 / 8 + 3


def test_older_vllm_and_sglang_names_are_read() -> None:
    old = parse_load(b"vllm:gpu_cache_usage_perc 0.5\nvllm:num_requests_running 1\n", 0, 0)
    assert old is not None and (old.kv_cache, old.running) == (0.5, 1.0)
    sglang = b'sglang:num_queue_reqs{tp_rank="0"} 3\nsglang:token_usage 0.9\n'
    load = parse_load(sglang, 0, 0)
    assert load is not None and (load.waiting, load.kv_cache) == (3.0, 0.9)
    assert load.overloaded


def test_values_that_are_not_a_load_are_left_out() -> None:
    hostile = (b"vllm:num_requests_waiting NaN\nvllm:num_requests_waiting -5\n"
               b"vllm:num_requests_waiting +Inf\nvllm:num_requests_waiting 1e300\n"
               b"vllm:num_requests_waiting\nvllm:num_requests_waiting{broken 3\n"
               b"vllm:kv_cache_usage_perc 7\n")  # fmt: skip
    load = parse_load(hostile, 0, 0)
    assert load is not None and load.waiting == 0 and load.kv_cache == 1.0  # capped at full
    assert parse_load(b"# nothing of ours\nprocess_cpu_seconds_total 1\n", 0, 0) is None
    assert parse_load(b"\xff\xfe garbage \x00", 0, 0) is None


def group(*loads: ServerLoad | None, affinity: int = 0) -> UpstreamGroup:
    targets = []
    for index, load in enumerate(loads):
        target = Target.parse(f"http://10.0.0.{index + 1}:8000", 1, 0)
        target.health.load = load
        targets.append(target)
    return UpstreamGroup(tuple(targets), algorithm="least-loaded", prefix_affinity=affinity)


def fresh(waiting: float = 0, kv: float = 0) -> ServerLoad:
    now = time.monotonic()
    return ServerLoad(waiting, 0, kv, now, 0, now + 60)


def picks(upstream: UpstreamGroup, count: int = 200, key: str | None = None) -> Counter[str]:
    return Counter(t.url for t in (upstream.pick(key=key) for _ in range(count)) if t)


def test_least_loaded_avoids_a_queue_and_a_full_kv_cache_and_shares_when_idle() -> None:
    assert picks(group(fresh(waiting=10), fresh())) == {"http://10.0.0.2:8000": 200}
    assert picks(group(fresh(kv=0.99), fresh())) == {"http://10.0.0.2:8000": 200}
    idle = picks(group(fresh(), fresh()))
    assert set(idle) == {"http://10.0.0.1:8000", "http://10.0.0.2:8000"}


def test_a_stale_or_missing_load_falls_back_to_least_request() -> None:
    now = time.monotonic()
    stale = ServerLoad(0, 0, 0, now - 10, 0, now - 1)
    for upstream in (group(fresh(waiting=10), stale), group(fresh(waiting=10), None)):
        assert len(picks(upstream)) == 2  # the queue no longer decides


def test_prefix_affinity_keeps_a_prompt_on_one_server_until_it_is_overloaded() -> None:
    upstream = group(fresh(), fresh(), fresh(), affinity=64)
    kept = picks(upstream, 50, key="system: you are a helpful assistant")
    assert len(kept) == 1
    (server,) = kept
    index = int(server.split(".")[3].split(":")[0]) - 1
    upstream.targets[index].health.load = fresh(waiting=3)
    moved = picks(upstream, 50, key="system: you are a helpful assistant")
    assert server not in moved


def test_the_prompt_prefix_is_what_the_model_reads_first() -> None:
    openai = {"messages": [{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}  # fmt: skip
    assert prompt_prefix(openai, 100) == "system:Be brief.user:Hi"
    assert prompt_prefix(openai, 10) == "system:Be "
    anthropic = {"system": "Rules.", "messages": [{"role": "user", "content": "Q"}]}
    assert prompt_prefix(anthropic, 100) == "Rules.user:Q"
    assert prompt_prefix({"prompt": "Once upon"}, 4) == "Once"
    assert prompt_prefix({"messages": "not a list"}, 10) is None
