"""Log queues are bounded: a writer that cannot write drops and counts, the caller never waits."""

from __future__ import annotations

import io
import logging
import queue
import threading

from data_plane.access_log import AccessLog
from data_plane.logs import DroppingQueueHandler


class StuckStream(io.RawIOBase):
    """A stream whose first write blocks until released: a reader that stopped reading."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.writing = threading.Event()
        self.written = b""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writing.set()
        self.release.wait(5)
        self.written += bytes(data)
        return len(data)


def test_access_log_drops_beyond_its_buffer_while_the_writer_is_stuck() -> None:
    stream = StuckStream()
    log = AccessLog(True, stream=stream, buffer=10)  # type: ignore[arg-type]
    try:
        log.record({"n": 0})
        assert stream.writing.wait(5)  # the writer is now stuck in write
        for index in range(1, 101):
            log.record({"n": index})
        assert log.dropped == 90
    finally:
        stream.release.set()
        log.close()
    assert stream.written.count(b"\n") == 11  # the first line and the ten that fitted


def test_application_lines_are_dropped_and_counted_when_the_queue_is_full() -> None:
    counted: list[float] = []
    lines: queue.Queue[logging.LogRecord | None] = queue.Queue(2)
    handler = DroppingQueueHandler(lines)
    handler.on_drop = counted.append
    logger = logging.getLogger("test.bounded")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for index in range(5):
            logger.warning("line %d", index)
    finally:
        logger.removeHandler(handler)
    assert lines.qsize() == 2
    assert handler.dropped == 3 and counted == [1, 1, 1]
