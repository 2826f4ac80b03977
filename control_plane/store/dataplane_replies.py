"""The data planes' ACKs, NACKs and heartbeats, written in batches.

A change reaches every data plane at once, and each answers at once: one SQL transaction
per answer was a hundred commits per change on a 100-data-plane cluster, on the same
connection pool the next change needs. Answers are kept in memory (the latest per data plane)
and written every ``interval`` seconds with one statement per kind; ``GET
/api/v1/dataplanes`` is that much behind. Joining and leaving are written at once (the row
must exist); an answer says its stream is alive, so a batch sets ``connected`` too, and a
data plane's waiting answers are dropped when its stream ends. A batch that cannot be
written is kept for the next one (newer answers win).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.metrics import STORE_ERRORS
from control_plane.store.tables import DataPlaneRow

log = logging.getLogger("ai_gateway.control_plane.discovery")

MAX_PENDING = 100_000  # data planes whose answer waits; beyond it an answer is dropped (counted)


class ReplyRecorder:
    def __init__(self, engine: AsyncEngine, interval: float = 0.25) -> None:
        self._engine = engine
        self._interval = interval
        self._replies: dict[tuple[str, str], tuple[str, str, float]] = {}  # version, nack, when
        self._seen: dict[tuple[str, str], float] = {}
        self._flusher: asyncio.Task[None] | None = None
        self.dropped = 0

    def reply(self, cluster: str, node_id: str, version: str, nack: str) -> None:
        """The data plane answered a snapshot: it serves ``version`` (``nack``: why it kept it)."""
        if self._full((cluster, node_id)):
            return
        self._replies[(cluster, node_id)] = (version[:128], nack[:4096], time.time())
        self._start()

    def seen(self, cluster: str, node_id: str) -> None:
        """A heartbeat: the stream is alive."""
        if self._full((cluster, node_id)):
            return
        self._seen[(cluster, node_id)] = time.time()
        self._start()

    def _full(self, key: tuple[str, str]) -> bool:
        if key in self._replies or key in self._seen:
            return False
        if len(self._replies) + len(self._seen) >= MAX_PENDING:
            self.dropped += 1
            STORE_ERRORS.labels("dataplanes").inc()
            return True
        return False

    def forget(self, cluster: str, node_id: str) -> None:
        """The stream ended: its waiting answers must not mark it connected again."""
        self._replies.pop((cluster, node_id), None)
        self._seen.pop((cluster, node_id), None)

    def _start(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later(), name="dataplane-replies")

    async def _flush_later(self) -> None:
        while self._replies or self._seen:  # answers that came during a write: the next batch
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:  # kept: written with the next batch
                STORE_ERRORS.labels("dataplanes").inc()
                log.warning("cannot record the data planes' answers: %s", exc)

    async def flush(self) -> None:
        replies, self._replies = self._replies, {}
        seen, self._seen = self._seen, {}
        if not replies and not seen:
            return
        try:
            await self._write(replies, seen)
        except BaseException:
            for key, reply in replies.items():
                self._replies.setdefault(key, reply)
            for key, at in seen.items():
                self._seen.setdefault(key, at)
            raise

    async def _write(
        self,
        replies: dict[tuple[str, str], tuple[str, str, float]],
        seen: dict[tuple[str, str], float],
    ) -> None:
        async with self._engine.begin() as connection:
            if replies:
                await connection.execute(
                    _REPLY,
                    [
                        {"c": c, "n": n, "version": v, "nack": k, "at": at}
                        for (c, n), (v, k, at) in replies.items()
                    ],
                )
            if seen:
                await connection.execute(
                    _SEEN, [{"c": c, "n": n, "at": at} for (c, n), at in seen.items()]
                )

    async def close(self) -> None:
        """Write what is waiting (a stop does this before the store closes)."""
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._flusher), self._interval + 5)
        with contextlib.suppress(Exception):
            await self.flush()


_ROW = (DataPlaneRow.cluster == bindparam("c")) & (DataPlaneRow.node_id == bindparam("n"))
_REPLY = (
    update(DataPlaneRow)
    .where(_ROW)
    .values(
        applied_version=bindparam("version"),
        last_nack=bindparam("nack"),
        last_seen=bindparam("at"),
        connected=True,
    )
)
_SEEN = update(DataPlaneRow).where(_ROW).values(last_seen=bindparam("at"), connected=True)
