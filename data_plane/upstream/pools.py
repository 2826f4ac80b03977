"""One connection pool per backend origin, kept across snapshots so keep-alive survives a config change."""

from __future__ import annotations

import ssl

from data_plane.upstream.http1 import UpstreamPool
from data_plane.upstream.targets import Target


class UpstreamPools:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._pools: dict[str, UpstreamPool] = {}
        self._tls = tls  # how HTTPS backends are verified

    def for_target(self, target: Target) -> UpstreamPool:
        key = f"{target.origin}#{target.server_name}" if target.server_name else target.origin
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = UpstreamPool(
                target.scheme,
                target.host,
                target.port,
                tls=self._tls,
                server_name=target.server_name or None,
            )
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
