"""The head writer and the snapshot compiler refuse what would split a request head."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from data_plane.errors import SnapshotRejected, UnsafeHeaderValue
from data_plane.proxy.exchange import Exchange
from data_plane.proxy.headers import is_safe_value, upstream_head
from data_plane.runtime.compile import compile_route
from protos import snapshot_pb2 as pb


def head(
    consumer: str | None = None, host: str = "backend:8000", request_id: str = "req-1"
) -> bytes:
    compiled = compile_route(route())
    target = replace(compiled.upstream.targets[0], host_header=host)
    exchange = Exchange(
        make_mocked_request("POST", "/chat/v1?stream=1", headers={"Accept": "*/*"}),
        request_id=request_id,
        path="/chat/v1",
        peer_ip="10.0.0.1",
        route=compiled,
        consumer=consumer,
    )
    return upstream_head(exchange, target)


def test_a_clean_head_is_written_as_given() -> None:
    written = head(consumer="zoë")
    assert written.startswith(b"POST /chat/v1?stream=1 HTTP/1.1\r\nHost: backend:8000\r\n")
    assert b"X-AI-Gateway-Consumer: zo\xc3\xab\r\n" in written
    assert b"X-Forwarded-For: 10.0.0.1\r\n" in written
    assert written.endswith(b"\r\n\r\n") and written.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize("bad", ["a\r\nX: 1", "a\nX: 1", "a\rX", "a\x00", "a\x7f", "a\x0b"])
@pytest.mark.parametrize("where", ["consumer", "host", "request_id"])
def test_a_control_character_anywhere_is_refused_not_written(bad: str, where: str) -> None:
    with pytest.raises(UnsafeHeaderValue) as refused:
        head(**{where: bad})
    assert bad not in str(refused.value)  # the value may be a credential: never in the message


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("alice", True),
        ("zoë@example.com", True),
        ("team a", True),
        ("", False),
        (" a", False),
        ("a ", False),
        ("a\tb", False),
        ("a\r\nb", False),
        ("x" * 256, True),
        ("x" * 257, False),
    ],
)
def test_what_the_gateway_may_write_as_a_value(value: str, safe: bool) -> None:
    assert is_safe_value(value) is safe


def route(**fields: Any) -> pb.Route:
    base: dict[str, Any] = {
        "id": "r1",
        "name": "r1",
        "path": pb.PathMatch(kind=pb.PathMatch.PREFIX, value="/chat"),
        "targets": [pb.Target(url="http://backend:8000", weight=1)],
    }
    return pb.Route(**{**base, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"targets": [pb.Target(url="http://backend:8000/x\r\nX: 1", weight=1)]},
        {"targets": [pb.Target(url="http://back end:8000", weight=1)]},
        {"path": pb.PathMatch(kind=pb.PathMatch.PREFIX, value="/chat\r\nX: 1")},
        {"rewrite_prefix": "/v1 x"},
        {"health_check": pb.HealthCheck(path="/h\nX: 1")},
    ],
)
def test_a_snapshot_with_such_a_value_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(SnapshotRejected):
        compile_route(route(**fields))
