"""One background task per (target URL, plan), reconciled per snapshot: what the active
health checks and the load scraper both keep."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Generic, TypeVar

from data_plane.upstream.targets import Target

Plan = TypeVar("Plan")


class TargetTasks(Generic[Plan]):
    def __init__(self, what: str, run: Callable[[Target, Plan], Coroutine[Any, Any, None]]) -> None:
        self._what = what  # names the tasks
        self._run = run
        self._tasks: dict[tuple[str, Plan], asyncio.Task[None]] = {}

    def reconcile(self, wanted: Mapping[tuple[str, Plan], Target]) -> None:
        """Run a task for each of ``wanted`` (by target URL and plan) and stop the others."""
        for key in list(self._tasks):
            if key not in wanted:
                self._tasks.pop(key).cancel()
        for key, target in wanted.items():
            task = self._tasks.get(key)
            if task is None or task.done():  # a task that ended (it should not) starts again
                self._tasks[key] = asyncio.create_task(
                    self._run(target, key[1]), name=f"{self._what} {key[0]}"
                )

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
