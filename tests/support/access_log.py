"""Reading a data plane's access log in a test: the line of one request, once written."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.processes import ChildProcess


def access_line(plane: ChildProcess, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The access-log line of ``request_id`` (the writer thread flushes every 20 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in plane.logs().splitlines():
            if f'"requestId":"{request_id}"' in line.replace(" ", ""):
                return dict(json.loads(line))
        assert time.monotonic() < deadline, f"no access-log line for {request_id}"
        time.sleep(0.02)
