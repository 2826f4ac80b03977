"""One connection pool per backend origin, kept across snapshots so keep-alive survives a config change.

Pools of origins no route uses any more are closed when a config is applied
(pods come and go with new addresses), and every few seconds the kept-alive
connections idle for longer than the pool's idle timeout are closed.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time

from data_plane.upstream.pool import DEFAULT_IDLE_TIMEOUT, UpstreamPool
from data_plane.upstream.targets import Target


def pool_key(target: Target) -> str:
    return f"{target.origin}#{target.server_name}" if target.server_name else target.origin


class UpstreamPools:
    def __init__(
        self, tls: ssl.SSLContext | None = None, idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    ) -> None:
        self._pools: dict[str, UpstreamPool] = {}
        self._tls = tls  # how HTTPS backends are verified
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()  # snapshots compile in a thread; they bind pools

    def for_target(self, target: Target) -> UpstreamPool:
        """The pool of the target's origin, for a config being compiled to hold."""
        key = pool_key(target)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = UpstreamPool(
                    target.scheme,
                    target.host,
                    target.port,
                    tls=self._tls,
                    server_name=target.server_name or None,
                    idle_timeout=self.idle_timeout,
                )
            pool.wanted_at = time.monotonic()
            return pool

    def retain(self, targets: list[Target], compiled_since: float) -> None:
        """Close the pools none of ``targets`` uses and no config compiled since
        ``compiled_since`` asked for (one compiling now may be newer than the one applied).
        Connections in use finish first: they are closed as they are released."""
        keep = {pool_key(t) for t in targets}
        with self._lock:
            dropped = [
                key
                for key, pool in self._pools.items()
                if key not in keep and pool.wanted_at < compiled_since
            ]
            closing = [self._pools.pop(key) for key in dropped]
        for pool in closing:
            pool.close()

    async def expire_idle(self, every: float = 5.0) -> None:
        """Close connections idle past their pool's timeout, forever (a task of the process)."""
        while True:
            await asyncio.sleep(every)
            with self._lock:
                pools = list(self._pools.values())
            for pool in pools:
                pool.expire_idle()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
