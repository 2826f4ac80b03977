"""A filter attaches an observer to a streamed answer: it sees every event in order, while the
client gets the stream unchanged and as it comes (not buffered).

The gateway's request path runs in this test's event loop (compiled from a snapshot, served on
127.0.0.1:0) with one filter of the test's own in front of the route's chain; the backend is a
real process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from multidict import CIMultiDict

from data_plane.filters import Next, compose
from data_plane.proxy.client_connection import ClientServer
from data_plane.proxy.exchange import Exchange
from data_plane.proxy.handler import ProxyHandler
from data_plane.proxy.observers import SseEvents
from data_plane.runtime.compile import CompileContext, compile_snapshot
from data_plane.runtime.routes import RouteTable
from data_plane.upstream.pools import UpstreamPools
from protos import snapshot_pb2 as pb
from tests.support.processes import ChildProcess, upstream

POOLS = UpstreamPools()  # the connections of this module's tests, closed after each


@dataclass
class Watched:
    status: int = 0
    events: list[bytes] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


class Watch:
    """The test's filter: attaches a chunk observer and an event observer to every answer."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        watched = self.watched

        class Chunks:
            def on_headers(self, ex: Exchange, status: int, headers: CIMultiDict[str]) -> None:
                watched.status = status

            def on_chunk(self, ex: Exchange, chunk: bytes) -> None:
                watched.chunks.append(chunk)

            def on_end(self, ex: Exchange) -> None:
                watched.ended.append("end")

            def on_abort(self, ex: Exchange, reason: str) -> None:
                watched.ended.append(reason)

        exchange.observe(Chunks())
        exchange.observe(SseEvents(lambda ex, event: watched.events.append(event)))
        return await next(exchange)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ChildProcess]:
    process = upstream(tmp_path, "sse-backend").start()
    yield process
    process.stop()


async def serve_with(watched: Watched, backend_url: str) -> tuple[asyncio.Server, str]:
    snapshot = pb.Snapshot(
        version="1-test",
        cluster="observe",
        revision=1,
        routes=[
            pb.Route(
                id="r",
                name="stream",
                path=pb.PathMatch(kind=pb.PathMatch.PREFIX, value="/"),
                targets=[pb.Target(url=backend_url, weight=1)],
            )
        ],
    )
    config = compile_snapshot(snapshot, CompileContext(pools=POOLS))
    route = config.routes.all_routes()[0]
    assert route.chain is not None
    table = RouteTable()
    table.add(replace(route, chain=compose([Watch(watched)], route.chain)))
    handler = ProxyHandler()
    handler.swap(replace(config, routes=table))
    server = ClientServer(
        handler, head_timeout=10, idle_timeout=60, handler_cancellation=True, access_log=None
    )
    listening = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    return listening, f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"


async def test_an_observer_sees_every_event_in_order_and_the_client_the_same_stream(
    backend: ChildProcess,
) -> None:
    watched = Watched()
    listening, url = await serve_with(watched, f"http://127.0.0.1:{backend.ready['port']}")
    try:
        async with (
            httpx.AsyncClient(base_url=url) as client,
            client.stream("GET", "/sse", params={"n": "20", "delay": "0.01"}) as stream,
        ):
            received = b"".join([chunk async for chunk in stream.aiter_raw()])
    finally:
        listening.close()
        POOLS.close()
    expected = [b'data: {"index": %d}' % i for i in range(20)] + [b"data: [DONE]"]
    assert watched.status == 200
    assert watched.events == expected
    assert received == b"".join(watched.chunks)  # the client got exactly what was observed
    assert received == b"".join(event + b"\n\n" for event in expected)
    assert watched.ended == ["end"]


async def test_the_stream_is_not_held_back_and_an_abort_is_seen(backend: ChildProcess) -> None:
    watched = Watched()
    listening, url = await serve_with(watched, f"http://127.0.0.1:{backend.ready['port']}")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            async with client.stream("GET", "/stall", params={"after": "2"}) as stream:
                got = b""
                async for chunk in stream.aiter_raw():  # the backend sends two, then stalls
                    got += chunk
                    if got.count(b"\n\n") == 2:
                        break
            assert watched.events == [b"data: 0", b"data: 1"]  # seen while the stream is open
        deadline = asyncio.get_running_loop().time() + 10
        while not watched.ended:  # the client left: the observer hears the abort
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
    finally:
        listening.close()
        POOLS.close()
    assert watched.ended == ["client_disconnected"]
