"""A webhook receiver for the tests: an HTTP server of their own that records each event."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """An HTTP endpoint that records each POST and answers with the next of ``statuses``."""

    def __init__(self, port: int = 0, statuses: tuple[int, ...] = ()) -> None:
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.events.append(json.loads(body))
                    receiver.headers.append(dict(self.headers))
                    receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, kind: str, timeout: float = 15.0, **data: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["type"] == kind and all(
                    event["data"].get(k) == v for k, v in data.items()
                ):
                    return event
            assert time.monotonic() < deadline, (kind, data, self.events)
            time.sleep(0.05)


@contextmanager
def receiver(port: int = 0, statuses: tuple[int, ...] = ()) -> Iterator[Receiver]:
    endpoint = Receiver(port, statuses)
    try:
        yield endpoint
    finally:
        endpoint.close()
