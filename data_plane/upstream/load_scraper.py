"""Read each ``least-loaded`` target's ``/metrics`` off the request path: one task per
(target, plan), reconciled per snapshot like the active health checks.

Each scrape uses the target's own connection pool (its TLS, its addresses), waits at most
its interval, and reads at most MAX_METRICS_BYTES; what it finds becomes the target's
``health.load``. A failed scrape leaves the last load to go stale: the balancer uses a
load only while it is younger than ``stale_after``, and otherwise falls back to
least-request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from data_plane.errors import DataPlaneError
from data_plane.upstream.http1 import UpstreamError
from data_plane.upstream.server_load import parse_load
from data_plane.upstream.target_tasks import TargetTasks
from data_plane.upstream.targets import Target

log = logging.getLogger("ai_gateway.data_plane.load")

MAX_METRICS_BYTES = 1024 * 1024  # vLLM's is a few hundred KB; parsing more would hold the loop


@dataclass(frozen=True, slots=True)
class LoadPlan:
    path: str  # the metrics path on the target
    interval: float  # seconds between scrapes


class LoadScraper:
    def __init__(self) -> None:
        self._tasks = TargetTasks[LoadPlan]("load", self._run)

    def reconcile(self, wanted: Mapping[tuple[str, LoadPlan], Target]) -> None:
        """Scrape the targets ``wanted`` (by URL and plan) and stop the others."""
        self._tasks.reconcile(wanted)

    async def stop(self) -> None:
        await self._tasks.stop()

    async def _run(self, target: Target, plan: LoadPlan) -> None:
        failing = False
        while True:
            started = time.monotonic()
            text = await self._scrape(target, plan)
            in_flight = target.health.in_flight
            load = parse_load(text, started, in_flight, 3 * plan.interval) if text else None
            if load is not None:
                target.health.load = load
                if failing:
                    log.info("target %s reports its load again", target.url)
                failing = False
            elif not failing:
                log.warning("target %s: no load in %s; least-request until there is",
                            target.url, plan.path)  # fmt: skip
                failing = True
            await asyncio.sleep(max(0.0, plan.interval - (time.monotonic() - started)))

    async def _scrape(self, target: Target, plan: LoadPlan) -> bytes | None:
        pool = target.pool
        assert pool is not None
        head = (
            f"GET {target.base_path}{plan.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
            "User-Agent: ai-gateway-load\r\nAccept: text/plain\r\n\r\n"
        ).encode()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(plan.interval):
                connection, _ = await pool.acquire(plan.interval)
                try:
                    connection.write(head)
                    await connection.response_head()
                    while chunk := await connection.read_chunk():
                        size += len(chunk)
                        if size > MAX_METRICS_BYTES:
                            raise UpstreamError(f"metrics over {MAX_METRICS_BYTES} bytes")
                        chunks.append(chunk)
                except BaseException:
                    connection.close()
                    raise
                pool.release(connection)
                return b"".join(chunks) if connection.status == 200 else None
        except (TimeoutError, DataPlaneError, OSError):  # PoolOverflow too: try next time
            return None
