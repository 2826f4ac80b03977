"""Subscribe to the cluster's snapshots; compile, swap, persist, and ACK or NACK each one.

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
from data_plane.metrics import SNAPSHOT_NACKS
from data_plane.runtime.config import RuntimeConfig
from data_plane.sync.link import ControlPlaneLink
from data_plane.sync.snapshot_file import write_snapshot
from protos import discovery_pb2 as dpb
from protos import discovery_pb2_grpc
from protos import snapshot_pb2 as pb

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
        compile_snapshot: Callable[[pb.Snapshot], RuntimeConfig],
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
        self.connected = False
        self.last_error = ""

    def adopt(self, config: RuntimeConfig) -> None:
        """Start from a config loaded elsewhere (the cache file); the stream says what we hold."""
        self._apply(config)
        self.version = config.version

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
            replies.put_nowait(await self._handle(response.snapshot, response.nonce))

    async def _handle(self, snapshot: pb.Snapshot, nonce: str) -> dpb.DiscoveryRequest:
        try:
            config = await asyncio.to_thread(self._compile, snapshot)
        except SnapshotRejected as exc:
            log.error("rejected snapshot %s: %s", snapshot.version, exc)
            SNAPSHOT_NACKS.inc()
            return dpb.DiscoveryRequest(
                version_info=self.version, response_nonce=nonce, error_detail=str(exc)
            )
        self._apply(config)
        self.version = config.version
        log.info("applied snapshot %s (%d routes)", config.version, config.routes.count)
        try:
            await asyncio.to_thread(write_snapshot, self._cache_file, snapshot)
        except OSError as exc:  # serving matters more than the cache
            log.warning("cannot write the snapshot cache %s: %s", self._cache_file, exc)
        return dpb.DiscoveryRequest(version_info=config.version, response_nonce=nonce)
