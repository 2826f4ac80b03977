"""Active health checks: each (target, check) pair polled by one task, reconciled per snapshot.

A target fails its checks after ``unhealthy_threshold`` bad answers in a row
and passes again after ``healthy_threshold`` good ones; until then the
balancer treats it like an ejected one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from data_plane.errors import DataPlaneError
from data_plane.upstream.check_plan import CheckPlan
from data_plane.upstream.target_tasks import TargetTasks
from data_plane.upstream.targets import Target

log = logging.getLogger("ai_gateway.data_plane.health")


class ActiveHealthChecker:
    def __init__(self) -> None:
        self._tasks = TargetTasks[CheckPlan]("health", self._run)

    def reconcile(self, wanted: Mapping[tuple[str, CheckPlan], Target]) -> None:
        """Run the checks ``wanted`` (by target URL and plan) and stop the others."""
        self._tasks.reconcile(wanted)

    async def stop(self) -> None:
        await self._tasks.stop()

    async def _run(self, target: Target, plan: CheckPlan) -> None:
        good = bad = 0
        health = target.health
        while True:
            passed = await self._probe(target, plan)
            good, bad = (good + 1, 0) if passed else (0, bad + 1)
            if good >= plan.healthy_threshold and health.checks_failing(False):
                log.info("target %s passes its health checks again", target.url)
            elif bad >= plan.unhealthy_threshold and health.checks_failing(True):
                log.warning("target %s fails its health checks (%s)", target.url, plan.path)
            await asyncio.sleep(plan.interval)

    async def _probe(self, target: Target, plan: CheckPlan) -> bool:
        pool = target.pool
        assert pool is not None
        head = (
            f"GET {target.base_path}{plan.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
            "User-Agent: ai-gateway-health-check\r\n\r\n"
        ).encode()
        try:
            async with asyncio.timeout(plan.timeout):
                connection, _ = await pool.acquire(plan.timeout)
                try:
                    connection.write(head)
                    await connection.response_head()
                    while await connection.read_chunk():
                        pass
                except BaseException:
                    connection.close()
                    raise
                pool.release(connection)
                return connection.status in plan.expected
        except (TimeoutError, DataPlaneError, OSError):  # PoolOverflow too: a failed probe
            return False
