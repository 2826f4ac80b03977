"""One JSON line per request, written off the event loop.

The request path only appends a dict to a bounded queue; a writer thread wakes
every FLUSH_SECONDS, serialises what piled up with orjson and writes it in one
call, so a slow log reader never stalls the proxy and a request never wakes a
thread. Profiling showed Python's logging machinery (records,
QueueHandler, python-json-logger) costing ~30 us per request here, about
ten times this writer (bench/PROFILE.md). The line carries what an operator
needs to follow a request, never a key or an Authorization value: only the
consumer name and the normalised path, without its query string.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from data_plane.metrics import ACCESS_LOG_DROPPED

if TYPE_CHECKING:
    from data_plane.proxy.exchange import Exchange

FLUSH_SECONDS = 0.02
DEFAULT_BUFFER = 10_000  # lines waiting for the writer; beyond them lines are dropped


class AccessLog:
    """A bounded queue of lines and the thread that writes them.

    When the log's reader stalls, the writer thread blocks in ``write`` and the
    queue fills; from then on each new line is dropped and counted
    (``aigw_access_log_dropped_total``) instead of growing memory without bound.
    """

    def __init__(
        self, enabled: bool, stream: BinaryIO | None = None, buffer: int = DEFAULT_BUFFER
    ) -> None:
        self.enabled = enabled
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._limit = buffer
        self._stream = stream or sys.stderr.buffer
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        if enabled:
            self._thread = threading.Thread(target=self._write, name="access-log", daemon=True)
            self._thread.start()

    def record(self, fields: dict[str, Any]) -> None:
        if len(self._pending) >= self._limit:
            self.dropped += 1
            ACCESS_LOG_DROPPED.inc()
            return
        fields["time"] = time.time()
        self._pending.append(fields)  # deque appends and pops are atomic: no lock

    def _write(self) -> None:
        pending = self._pending
        while not self._stopping.wait(FLUSH_SECONDS) or pending:
            lines = []
            while pending:
                lines.append(
                    orjson.dumps(_entry(pending.popleft()), option=orjson.OPT_APPEND_NEWLINE)
                )
            if lines:
                try:
                    self._stream.write(b"".join(lines))
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # a closed log stream must not take the proxy down

    def close(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=1.0)  # a stalled reader may hold the writer forever
            self._thread = None


_second: tuple[int, str] = (0, "")


def _timestamp(stamp: float) -> str:
    global _second
    whole = int(stamp)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((stamp - whole) * 1000):03d}Z"


AI_FIELDS = "ai"  # an AI exchange, made into the line's fields by the writer thread


def _entry(fields: dict[str, Any]) -> dict[str, Any]:
    stamp = fields.pop("time")
    ai = fields.pop(AI_FIELDS, None)
    entry = {
        "time": _timestamp(stamp),
        "logger": "ai_gateway.access",
        **fields,
    }
    if ai is not None:
        entry.update(_ai_fields(ai))
    return entry


def _ai_fields(exchange: Exchange) -> dict[str, Any]:
    """The AI fields of a line, made in the writer thread from the exchange, which the
    request path handed over once it was over (nothing writes to it any more)."""
    ai, usage = exchange.ai, exchange.usage
    ttft, tpot, cost = exchange.ttft_seconds, exchange.tpot_seconds, exchange.cost_usd
    fallback = exchange.fallback
    return {
        "model": ai.model if ai is not None else None,
        "responseModel": exchange.response_model,
        "inputTokens": usage.input if usage else None,
        "outputTokens": usage.output if usage else None,
        "cachedTokens": usage.cached_input if usage else None,
        "reasoningTokens": usage.reasoning if usage else None,
        "ttftMs": round(ttft * 1000, 3) if ttft is not None else None,
        "tpotMs": round(tpot * 1000, 3) if tpot else None,
        "costUsd": round(cost, 8) if cost is not None else None,
        "usageEstimated": usage.estimated if usage else None,
        "fallback": fallback.name if fallback is not None else None,
        "fallbackReason": exchange.fallback_reason or None,
    }
