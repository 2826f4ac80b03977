"""What a model server says about its own load (vLLM, SGLang ``/metrics``), and the score
``least-loaded`` balancing ranks targets by.

Read by hand: the gateway needs a handful of gauges from an exposition that can hold
hundreds of histogram lines, and reads them each second per target; a line scan that
parses only the wanted names costs a fraction of a full parse (prometheus_client's
parser builds every family). Each value is checked: a number, finite, not negative.

The score (lower is better) of a target with fresh metrics:

    waiting + sent + running / 8 + 4 * kv_cache

``waiting`` and ``running`` are the server's queued and running requests (summed over its
label sets), ``kv_cache`` its KV-cache use from 0 to 1 (the largest of its label sets),
and ``sent`` the requests this data plane sent it since the scrape (so that between
scrapes one idle server does not get every request). A queued request weighs as much as
eight running ones; a full KV cache as four queued requests (the server is about to
preempt or queue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# metric name -> what it is; vLLM renamed gpu_cache_usage_perc to kv_cache_usage_perc.
METRICS = {
    b"vllm:num_requests_waiting": "waiting",
    b"vllm:num_requests_running": "running",
    b"vllm:kv_cache_usage_perc": "kv_cache",
    b"vllm:gpu_cache_usage_perc": "kv_cache",
    b"sglang:num_queue_reqs": "waiting",
    b"sglang:num_running_reqs": "running",
    b"sglang:token_usage": "kv_cache",
}
MAX_VALUE = 1e9  # a queue longer than this is not a queue
OVERLOADED_KV_CACHE = 0.9  # prefix affinity leaves a server past this KV-cache use


@dataclass(frozen=True, slots=True)
class ServerLoad:
    waiting: float
    running: float
    kv_cache: float
    scraped_at: float  # monotonic
    in_flight_at_scrape: int  # this data plane's requests to it then
    fresh_until: float = 0.0  # monotonic: after it, the load is stale (three scrape intervals)

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def score(self, in_flight: int) -> float:
        sent = max(0, in_flight - self.in_flight_at_scrape)
        return self.waiting + sent + self.running / 8 + 4 * self.kv_cache

    @property
    def overloaded(self) -> bool:
        """Queueing, or its KV cache nearly full: no place to keep a prompt's prefix."""
        return self.waiting >= 1 or self.kv_cache >= OVERLOADED_KV_CACHE


def parse_load(
    text: bytes, scraped_at: float, in_flight: int, fresh_for: float = 3.0
) -> ServerLoad | None:
    """The load in a Prometheus text exposition, or None when it names none of METRICS."""
    found: dict[str, float] = {}
    for line in text.split(b"\n"):
        if not line or line[0] in b"#":
            continue
        brace, space = line.find(b"{"), line.find(b" ")
        end = brace if 0 <= brace < space or (brace >= 0 and space < 0) else space
        kind = METRICS.get(line[:end] if end >= 0 else line)
        if kind is None:
            continue
        rest = line[line.rfind(b"}") + 1 :] if brace >= 0 else line[end:]
        value = _number(rest.split()[0] if rest.split() else b"")
        if value is None:
            continue
        if kind == "kv_cache":
            found[kind] = max(found.get(kind, 0.0), min(value, 1.0))
        else:
            found[kind] = found.get(kind, 0.0) + value
    if not found:
        return None
    return ServerLoad(found.get("waiting", 0.0), found.get("running", 0.0),
                      found.get("kv_cache", 0.0), scraped_at, in_flight,
                      scraped_at + fresh_for)  # fmt: skip


def _number(text: bytes) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_VALUE:
        return None
    return value
