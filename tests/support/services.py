"""Reach the PostgreSQL and Redis servers the tests may use, or explain why not.

Where a server is unreachable its tests skip, except under CI=true, where
a missing server is a failure: CI must test what the product promises.
"""

from __future__ import annotations

import os
import socket

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
