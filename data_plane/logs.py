"""JSON log lines (python-json-logger), at the level the snapshot asks for, never blocking.

A log line is formatted where it is logged and handed to a bounded queue; one
thread per process writes the queue to stderr. When stderr's reader stalls
(a log shipper that stopped reading), that thread blocks, the queue fills, and
further lines are dropped and counted instead of freezing the event loop that
logged them. The control plane logs the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import queue
import sys
import threading
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

_FIELDS = {"levelname": "level", "name": "logger"}
QUEUED_LINES = 10_000


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands formatted records to a bounded queue; a full queue drops the line and counts it."""

    def __init__(self, lines: queue.Queue[logging.LogRecord | None]) -> None:
        super().__init__(lines)
        self.dropped = 0
        self.on_drop: Callable[[float], object] | None = None

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(1)


class _LogWriter:
    """The queue, its handler and the thread that writes it to stderr (started again in a
    forked worker, since threads do not survive ``fork``). Not logging's QueueListener: its
    ``stop`` waits without a bound for a thread that a stalled reader may hold forever."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.handler = DroppingQueueHandler(queue.Queue(QUEUED_LINES))
        self.handler.setFormatter(formatter)
        self._thread: threading.Thread | None = None
        self.start()
        os.register_at_fork(after_in_child=self._restart_in_child)
        atexit.register(self.stop)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._write, args=(self.handler.queue,), name="log-writer", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _write(lines: queue.Queue[logging.LogRecord | None]) -> None:
        stream = sys.stderr
        while (record := lines.get()) is not None:
            try:
                stream.write(f"{record.msg}\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must not end the process

    def stop(self) -> None:
        """Let the thread write what is queued, for at most a second (it may be stuck)."""
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self.handler.queue.put_nowait(None)
            self._thread.join(timeout=1.0)
            self._thread = None

    def _restart_in_child(self) -> None:
        self.handler.queue = queue.Queue(QUEUED_LINES)
        self.start()


_writer: _LogWriter | None = None


TRACE = 5  # below debug: the libraries' own debug lines too
logging.addLevelName(TRACE, "TRACE")
# Libraries that log a lot at debug (aiosqlite: a line per statement): their warnings only,
# unless the level is trace.
LIBRARIES = ("aiosqlite", "sqlalchemy", "asyncio", "grpc", "kubernetes_asyncio", "urllib3",
             "httpx", "httpcore", "hpack", "aiohttp", "alembic", "hiredis")  # fmt: skip


def configure_logging(level: str, quiet: tuple[str, ...] = ("aiohttp.access",)) -> None:
    """JSON lines on stderr at ``level``; the loggers in ``quiet`` only from WARNING up, and
    the LIBRARIES' too unless the level is trace."""
    global _writer
    formatter = JsonFormatter(
        "{levelname}{name}{message}", style="{", timestamp="time", rename_fields=_FIELDS
    )
    if _writer is None:
        _writer = _LogWriter(formatter)
    else:
        _writer.handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[_writer.handler], force=True)
    set_level(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


def count_dropped_lines(counter: Callable[[float], object]) -> None:
    """Count every line dropped from now on (a metric's ``inc``), and those dropped before."""
    if _writer is not None:
        if _writer.handler.dropped:
            counter(_writer.handler.dropped)
        _writer.handler.on_drop = counter


def set_level(level: str) -> None:
    """The gateway's level; the LIBRARIES' follow it only at trace (else: warnings)."""
    name = level.upper()
    if not isinstance(logging.getLevelName(name), int):
        return  # a name logging does not know
    logging.getLogger().setLevel(name)
    for library in LIBRARIES:
        logging.getLogger(library).setLevel(logging.NOTSET if name == "TRACE" else logging.WARNING)
