"""One JSON line per request, written off the event loop.

Records go into a queue; a listener thread formats and writes them, so a slow
log reader never stalls the proxy. The line carries what an operator needs to
follow a request (never a key or an Authorization value: only the consumer
name and the normalised path, without its query string).
"""

from __future__ import annotations

import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from pythonjsonlogger.json import JsonFormatter


class _UnformattedQueueHandler(QueueHandler):
    """Hand the record over as is: formatting happens in the listener's thread."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class AccessLog:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._logger = logging.getLogger("ai_gateway.access")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._listener: QueueListener | None = None
        if enabled:
            records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(JsonFormatter("{message}", style="{", timestamp="time"))
            self._logger.handlers[:] = [_UnformattedQueueHandler(records)]
            self._listener = QueueListener(records, stream)
            self._listener.start()

    def record(self, fields: dict[str, Any]) -> None:
        if self.enabled:
            self._logger.info("request", extra=fields)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
