"""What headers go upstream and come back: hop-by-hop removed, X-Forwarded-* set."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from multidict import CIMultiDict, CIMultiDictProxy

from data_plane.errors import UnsafeHeaderValue

if TYPE_CHECKING:
    from data_plane.proxy.exchange import Exchange
    from data_plane.upstream.targets import Target

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
# Set by the gateway itself on the way up; a client's copy is dropped, not forwarded.
_REWRITTEN = frozenset(
    {
        "host",
        "content-length",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "expect",
        "x-ai-gateway-consumer",
    }
)
_UPSTREAM_DROP = HOP_BY_HOP | _REWRITTEN
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Control characters other than CR and LF; those two are counted instead (one pair a line).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What a value the gateway itself writes into a head may hold: visible characters and inner
# spaces (no tab, no control character, nothing to trim), non-ASCII as UTF-8.
_SAFE_VALUE = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?")
MAX_WRITTEN_VALUE = 256


def is_safe_value(value: str, max_length: int = MAX_WRITTEN_VALUE) -> bool:
    """Whether ``value`` may go into a head as written: 1..max_length characters, no control
    characters, no leading or trailing whitespace."""
    return len(value) <= max_length and _SAFE_VALUE.fullmatch(value) is not None


def request_id_of(headers: CIMultiDictProxy[str]) -> str:
    """Keep a sane client-supplied X-Request-Id (it ties logs together); else make one."""
    given = headers.get("X-Request-Id")
    return given if given is not None and _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


def _connection_tokens(values: Iterable[str]) -> frozenset[str]:
    tokens: set[str] = set()
    for value in values:
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return frozenset(tokens)


def upstream_head(exchange: Exchange, target: Target, length: int | None = None) -> bytes:
    """The request line and headers the exchange sends to ``target``, as bytes.

    A client's own ``X-AI-Gateway-Consumer`` is always dropped: only the
    gateway says who the caller is, and only after authenticating it; so is its
    credential (``exchange.drop_headers``), and any header the target's own
    credential goes in. ``length``: the body's, when the gateway rewrote it.
    Raises UnsafeHeaderValue rather than write a control character.
    """
    request, route, body = exchange.request, exchange.route, exchange.body
    assert route is not None
    headers = request.headers
    query = request.raw_path.partition("?")[2]
    path = target.base_path + route.upstream_path(exchange.path) + (f"?{query}" if query else "")
    skip = _UPSTREAM_DROP
    drop = exchange.drop_headers
    if drop:
        skip = skip | {name.lower() for name in drop}
    credential = target.auth
    if credential is not None:
        skip = skip | {credential[0].lower()}
    if "Connection" in headers:
        skip = skip | _connection_tokens(headers.getall("Connection"))
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {target.host_header}"]
    append = lines.append
    for name, value in headers.items():
        if name.lower() not in skip:
            append(f"{name}: {value}")
    prior = headers.get("X-Forwarded-For")
    peer = exchange.peer_ip
    append(f"X-Forwarded-For: {prior}, {peer}" if prior else f"X-Forwarded-For: {peer}")
    append(f"X-Forwarded-Proto: {request.scheme}")
    original_host = headers.get("Host")
    if original_host:
        append(f"X-Forwarded-Host: {original_host}")
    append(f"X-Request-Id: {exchange.request_id}")
    if exchange.consumer is not None:
        append(f"X-AI-Gateway-Consumer: {exchange.consumer}")
    if credential is not None:
        append(f"{credential[0]}: {credential[1]}")
    if body is not None:
        size = length if length is not None else body.length
        append(f"Content-Length: {size}" if size is not None else "Transfer-Encoding: chunked")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1
    if text.count("\n") != breaks or text.count("\r") != breaks or _CONTROL.search(text):
        raise UnsafeHeaderValue(_unsafe_line(lines))
    return (text + "\r\n\r\n").encode("utf-8", "surrogateescape")


def _unsafe_line(lines: list[str]) -> str:
    """Which line is at fault, named without its value (it may be a credential)."""
    for line in lines:
        if "\r" in line or "\n" in line or _CONTROL.search(line):
            name = line.partition(":")[0] if ":" in line else "the request line"
            return f"a control character in {name[:64]!r}; the request was not sent"
    return "a control character in the request head; the request was not sent"


def downstream_headers(headers: list[tuple[str, str]]) -> CIMultiDict[str]:
    """The backend's response headers minus hop-by-hop ones (and those its Connection names)."""
    skip = HOP_BY_HOP
    connection = [v for k, v in headers if k.lower() == "connection"]
    if connection:
        skip = skip | _connection_tokens(connection)
    return CIMultiDict((k, v) for k, v in headers if k.lower() not in skip)
