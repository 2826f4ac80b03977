"""What happened to one request, filled in along the way, for its access-log line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ExchangeRecord:
    request_id: str = ""
    path: str = ""
    client_ip: str = ""
    route: str = "none"
    consumer: str | None = None
    target: str = ""
    upstream_seconds: float | None = None
    retries: int = 0
    request_bytes: int = 0  # the body as read from the client (chunked ones included)
    response_bytes: int = 0
    error: str = ""
