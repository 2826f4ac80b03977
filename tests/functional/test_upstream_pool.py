"""The connection pool's circuit breaker against a real listener on loopback."""

from __future__ import annotations

import asyncio

import pytest

from data_plane.upstream.pool import PoolLimits, PoolOverflow, UpstreamPool

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def serve() -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def exchange(pool: UpstreamPool, limits: PoolLimits) -> None:
    connection, _ = await pool.acquire(1.0, limits)
    connection.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await connection.response_head()
    while await connection.read_chunk():
        pass
    pool.release(connection)


def test_connections_and_waiting_requests_are_bounded() -> None:
    async def scenario() -> None:
        server = await serve()
        port = server.sockets[0].getsockname()[1]
        pool = UpstreamPool("http", "127.0.0.1", port)
        limits = PoolLimits(max_connections=2, max_pending=1)
        first, _ = await pool.acquire(1.0, limits)
        second, _ = await pool.acquire(1.0, limits)
        assert pool.open == 2
        waiting = asyncio.create_task(pool.acquire(1.0, limits))
        await asyncio.sleep(0.05)
        assert pool.pending == 1 and not waiting.done()
        with pytest.raises(PoolOverflow):
            await pool.acquire(1.0, limits)

        first.close()  # its slot passes to the waiting request, which opens a new connection
        third, reused = await asyncio.wait_for(waiting, 1.0)
        assert not reused and pool.open == 2 and pool.pending == 0

        cancelled = asyncio.create_task(pool.acquire(1.0, limits))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert pool.pending == 0, "a request that gave up does not hold its place"

        for connection in (second, third):
            connection.close()
        await asyncio.sleep(0.05)
        assert pool.open == 0
        queueing = PoolLimits(max_connections=2, max_pending=10)
        await asyncio.gather(*(exchange(pool, queueing) for _ in range(6)))
        assert pool.open <= 2, "six requests shared two kept-alive connections"
        pool.close()
        await asyncio.sleep(0.05)
        assert pool.open == 0
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
