"""What headers go upstream and come back: hop-by-hop removed, X-Forwarded-* set."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(headers: CIMultiDictProxy[str]) -> str:
    """Keep a sane client-supplied X-Request-Id (it ties logs together); else make one."""
    given = headers.get("X-Request-Id")
    return given if given is not None and _REQUEST_ID.match(given) else uuid.uuid4().hex


def _connection_tokens(headers: CIMultiDictProxy[str]) -> frozenset[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return frozenset(tokens)


def end_to_end(headers: CIMultiDictProxy[str], drop: Iterable[str] = ()) -> CIMultiDict[str]:
    """Copy the headers without hop-by-hop ones (and those the Connection header names)."""
    skip = HOP_BY_HOP | _connection_tokens(headers) | frozenset(drop)
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in skip)


def upstream_request_headers(
    headers: CIMultiDictProxy[str],
    *,
    client_ip: str,
    scheme: str,
    upstream_host: str,
    request_id: str,
) -> CIMultiDict[str]:
    out = end_to_end(headers, drop=("host", "content-length", "x-request-id"))
    original_host = headers.get("Host", "")
    prior = headers.get("X-Forwarded-For")
    out["X-Forwarded-For"] = f"{prior}, {client_ip}" if prior else client_ip
    out["X-Forwarded-Proto"] = scheme
    if original_host:
        out["X-Forwarded-Host"] = original_host
    out["Host"] = upstream_host
    out["X-Request-Id"] = request_id
    return out
