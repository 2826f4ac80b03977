"""One JSON line per request, written off the event loop.

The request path only appends a dict to a queue; a writer thread wakes every
FLUSH_SECONDS, serialises what piled up with orjson and writes it in one call,
so a slow log reader never stalls the proxy and a request never wakes a thread. Profiling showed Python's logging machinery (records,
QueueHandler, python-json-logger) costing ~30 us per request here, about
ten times this writer (bench/PROFILE.md). The line carries what an operator
needs to follow a request, never a key or an Authorization value: only the
consumer name and the normalised path, without its query string.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any, BinaryIO

import orjson

_STOP = object()
FLUSH_SECONDS = 0.02


class AccessLog:
    def __init__(self, enabled: bool, stream: BinaryIO | None = None) -> None:
        self.enabled = enabled
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stream = stream or sys.stderr.buffer
        self._thread: threading.Thread | None = None
        if enabled:
            self._thread = threading.Thread(target=self._write, name="access-log", daemon=True)
            self._thread.start()

    def record(self, fields: dict[str, Any]) -> None:
        fields["time"] = time.time()
        self._queue.put(fields)

    def _write(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            batch = []
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            lines = [
                orjson.dumps(_entry(item), option=orjson.OPT_APPEND_NEWLINE)
                for item in batch
                if item is not _STOP
            ]
            if lines:
                try:
                    self._stream.write(b"".join(lines))
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # a closed log stream must not take the proxy down
            if stop:
                return

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None


_second: tuple[int, str] = (0, "")


def _timestamp(stamp: float) -> str:
    global _second
    whole = int(stamp)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((stamp - whole) * 1000):03d}Z"


def _entry(fields: dict[str, Any]) -> dict[str, Any]:
    stamp = fields.pop("time")
    return {
        "time": _timestamp(stamp),
        "logger": "ai_gateway.access",
        **fields,
    }
