"""Subscribe to the cluster's snapshots; compile, swap, persist, and ACK or NACK each one.

A snapshot comes whole or, once one is held, as the changes to it (protos.snapshot_delta):
applied to the snapshot held, checked against the new version's content hash, and compiled
keeping the routes it did not touch. The cache file always holds the whole snapshot.

The stream is reopened with jittered exponential backoff whenever it ends;
through all of it the last good config keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from data_plane import __version__
from data_plane.errors import SnapshotRejected
from data_plane.metrics import SNAPSHOT_NACKS, SNAPSHOTS_APPLIED
from data_plane.runtime.compile import ChangedRoutes
from data_plane.runtime.config import RuntimeConfig
from data_plane.sync.link import ControlPlaneLink
from data_plane.sync.snapshot_file import write_snapshot
from protos import discovery_pb2 as dpb
from protos import discovery_pb2_grpc
from protos import snapshot_pb2 as pb
from protos.snapshot_delta import DeltaRejected, apply_delta

log = logging.getLogger("ai_gateway.data_plane.sync")


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.2
    maximum: float = 10.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.maximum, self.initial * (2**attempt))
        return random.uniform(0, ceiling)  # full jitter, not secrecy


class DiscoveryClient:
    def __init__(
        self,
        link: ControlPlaneLink,
        cluster: str,
        node_id: str,
        cache_file: Path,
        apply: Callable[[RuntimeConfig], None],
        compile_snapshot: Callable[[pb.Snapshot, ChangedRoutes | None], RuntimeConfig],
        backoff: Backoff = Backoff(),
    ) -> None:
        self._link = link
        self._compile = compile_snapshot
        self._cluster = cluster
        self._node_id = node_id
        self._cache_file = cache_file
        self._apply = apply
        self._backoff = backoff
        self.version = ""  # what this data plane serves now
        self._held: pb.Snapshot | None = None  # the snapshot of that version, whole
        self.connected = False
        self.last_error = ""

    def adopt(self, config: RuntimeConfig) -> None:
        """Start from a config loaded elsewhere (the cache file); the stream says what we hold."""
        self._apply(config)
        self.version, self._held = config.version, config.source

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._link.channel() as channel:
                    await self._stream(channel)
                    attempt = 0
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                self.last_error = f"{exc.code().name}: {exc.details()}"
            except Exception as exc:
                self.last_error = repr(exc)
                log.exception("snapshot stream failed")
            self.connected = False
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.info(
                "control plane %s unavailable (%s); retrying in %.2fs",
                self._link.target,
                self.last_error,
                delay,
            )
            await asyncio.sleep(delay)

    async def _stream(self, channel: grpc.aio.Channel) -> None:
        replies: asyncio.Queue[dpb.DiscoveryRequest] = asyncio.Queue()
        replies.put_nowait(
            dpb.DiscoveryRequest(
                node=dpb.Node(
                    id=self._node_id,
                    cluster=self._cluster,
                    software_version=__version__,
                    hostname=socket.gethostname(),
                ),
                version_info=self.version,
                accepts_delta=True,
            )
        )

        async def requests() -> AsyncIterator[dpb.DiscoveryRequest]:
            while True:
                yield await replies.get()

        call = discovery_pb2_grpc.ConfigDiscoveryStub(channel).StreamSnapshots(
            requests(), metadata=self._link.metadata
        )
        metadata = await call.initial_metadata()
        if any(key == "aigw-accepted" for key, _ in metadata or ()):
            log.info("connected to control plane %s", self._link.target)
            self.connected, self.last_error = True, ""
        # A stream that failed before it was accepted raises its error here.
        async for response in call:
            replies.put_nowait(await self._handle(response))

    async def _handle(self, response: dpb.DiscoveryResponse) -> dpb.DiscoveryRequest:
        nonce, delta = response.nonce, response.HasField("delta")
        snapshot = response.delta.head if delta else response.snapshot
        try:
            if delta:
                snapshot, changed = await asyncio.to_thread(self._from_delta, response.delta)
                config = await asyncio.to_thread(self._compile, snapshot, changed)
            else:
                config = await asyncio.to_thread(self._compile, snapshot, None)
        except (SnapshotRejected, DeltaRejected) as exc:
            log.error("rejected snapshot %s: %s", snapshot.version, exc)
            SNAPSHOT_NACKS.inc()
            return dpb.DiscoveryRequest(
                version_info=self.version, response_nonce=nonce, error_detail=str(exc)
            )
        self._apply(config)
        self.version, self._held = config.version, snapshot
        SNAPSHOTS_APPLIED.labels("delta" if delta else "full").inc()
        log.info(
            "applied snapshot %s (%d routes%s)",
            config.version,
            config.routes.count,
            f", {len(changed.ids)} changed" if delta else "",
        )
        try:
            await asyncio.to_thread(write_snapshot, self._cache_file, snapshot)
        except OSError as exc:  # serving matters more than the cache
            log.warning("cannot write the snapshot cache %s: %s", self._cache_file, exc)
        return dpb.DiscoveryRequest(version_info=config.version, response_nonce=nonce)

    def _from_delta(self, delta: dpb.SnapshotDelta) -> tuple[pb.Snapshot, ChangedRoutes]:
        if self._held is None:
            raise DeltaRejected("incremental update, but no snapshot is held")
        snapshot, touched = apply_delta(self._held, delta)
        return snapshot, ChangedRoutes(delta.base_version, frozenset(touched))
