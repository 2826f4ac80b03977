"""Reach the PostgreSQL and Redis servers the tests may use, or explain why not.

Where a server is unreachable its tests skip, except under CI=true, where
a missing server is a failure: CI must test what the product promises.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run these tests (.ci/run starts it)")
    pytest.skip(reason)


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A redis-server of the test's own (to freeze with SIGSTOP, say), on a free port."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redis = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield redis, port
    finally:
        redis.send_signal(signal.SIGCONT)
        redis.terminate()
        redis.wait(timeout=10)


def redis_command(*command: str, port: int = REDIS_PORT, database: int = 0) -> bytes:
    """One command on a connection of its own, its raw reply (to look at what the gateway
    left in Redis, or to flush it)."""
    from data_plane.security.redis_scripts import pack

    with socket.create_connection((REDIS_HOST, port), timeout=2) as sock:
        if database:
            sock.sendall(pack("SELECT", database))
            assert sock.recv(100) == b"+OK\r\n"
        sock.sendall(pack(*command))
        return sock.recv(65536)
