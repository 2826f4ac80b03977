"""ConfigDiscovery: push each cluster's latest snapshot to its data planes.

Per stream: the data plane says who it is and what it holds; we send the
latest snapshot whenever that differs, and record each ACK/NACK so that
``GET /api/v1/dataplanes`` shows it from any control-plane replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
from collections.abc import AsyncIterator

import grpc

from control_plane.domain.config import check_cluster_name
from control_plane.snapshot.cache import SnapshotCache
from control_plane.snapshot.watcher import RevisionWatcher
from control_plane.store.dataplane_store import DataPlaneStore
from protos import discovery_pb2 as dpb
from protos import discovery_pb2_grpc

log = logging.getLogger("ai_gateway.control_plane.discovery")

HEARTBEAT_SECONDS = 10.0


class ConfigDiscoveryService(discovery_pb2_grpc.ConfigDiscoveryServicer):  # type: ignore[misc]
    def __init__(
        self,
        cache: SnapshotCache,
        watcher: RevisionWatcher,
        dataplanes: DataPlaneStore,
        token: str | None = None,
    ) -> None:
        self._token = token
        self._cache = cache
        self._watcher = watcher
        self._dataplanes = dataplanes
        self._nonces = itertools.count(1)
        self.connected: dict[tuple[str, str], str] = {}  # (cluster, node) -> version sent

    async def StreamSnapshots(
        self,
        request_iterator: AsyncIterator[dpb.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[dpb.DiscoveryResponse]:
        if self._token is not None:
            metadata = dict(context.invocation_metadata() or ())
            scheme, _, given = str(metadata.get("authorization", "")).partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.encode(), self._token.encode()
            ):
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing or wrong data-plane token (--token / AI_GATEWAY_DATAPLANE_TOKEN)",
                )
        hello = await anext(request_iterator, None)
        if hello is None:
            return
        node = hello.node
        try:
            check_cluster_name(node.cluster)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"node.cluster: {exc}")
        if not node.id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node.id: is required")
        key = (node.cluster, node.id)
        # Tells the data plane the stream is accepted even when it holds the latest already.
        await context.send_initial_metadata((("aigw-accepted", "1"),))
        await self._watcher.ensure(node.cluster)
        await self._dataplanes.record(
            node.cluster,
            node.id,
            hostname=node.hostname,
            software_version=node.software_version,
            applied_version=hello.version_info,
            nack="",
        )
        log.info(
            "data plane %s joined cluster %s holding %r", node.id, node.cluster, hello.version_info
        )
        tasks = [
            asyncio.create_task(self._read_replies(request_iterator, node.cluster, node.id)),
            asyncio.create_task(self._heartbeat(node.cluster, node.id)),
        ]
        sent = hello.version_info
        self.connected[key] = sent
        try:
            while True:
                snapshot = await self._cache.wait_for_change(node.cluster, sent)
                sent = snapshot.version
                self.connected[key] = sent
                yield dpb.DiscoveryResponse(snapshot=snapshot, nonce=str(next(self._nonces)))
        finally:
            for task in tasks:
                task.cancel()
            self.connected.pop(key, None)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._dataplanes.mark_disconnected(node.cluster, node.id))
            log.info("data plane %s left cluster %s", node.id, node.cluster)

    async def _read_replies(
        self, replies: AsyncIterator[dpb.DiscoveryRequest], cluster: str, node_id: str
    ) -> None:
        try:
            async for reply in replies:
                if reply.error_detail:
                    log.warning(
                        "data plane %s rejected a snapshot: %s", node_id, reply.error_detail
                    )
                    await self._dataplanes.record(
                        cluster,
                        node_id,
                        applied_version=reply.version_info,
                        nack=reply.error_detail,
                    )
                else:
                    await self._dataplanes.record(
                        cluster, node_id, applied_version=reply.version_info, nack=""
                    )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream ended under us; the writer side cleans up
            log.debug("reading from data plane %s stopped: %s", node_id, exc)

    async def _heartbeat(self, cluster: str, node_id: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):
                await self._dataplanes.record(cluster, node_id)
