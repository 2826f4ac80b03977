"""ConfigDiscovery: push each cluster's latest snapshot to its data planes.

Per stream: the data plane says who it is and what it holds; we send the
latest snapshot whenever that differs, and record each ACK/NACK so that
``GET /api/v1/dataplanes`` shows it from any control-plane replica.

A data plane that says it accepts deltas gets only what changed from the version it
holds, when the control plane still knows that version; after a NACK of a delta the same
version goes again whole.

One response is in flight per stream (go-control-plane's watch semantics): after
sending, we wait for the reply that carries that response's nonce (an ACK or a
NACK) before sending again, and then send the latest state, so a slow data
plane never gets a backlog of versions to compile one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
from prometheus_client import Histogram

from control_plane.domain.config import check_cluster_name
from control_plane.metrics import (
    DELTAS_RESENT,
    PROPAGATION,
    SNAPSHOT_BYTES_SENT,
    SNAPSHOT_NACKS,
    SNAPSHOTS_SENT,
    STORE_ERRORS,
)
from control_plane.rpc.dataplane_access import DataPlaneAccess
from control_plane.snapshot.cache import EncodedResponse, SnapshotCache
from control_plane.snapshot.watcher import RevisionWatcher
from control_plane.store.dataplane_store import DataPlaneStore
from control_plane.store.webhook_outbox import WebhookOutbox
from protos import discovery_pb2 as dpb
from protos import discovery_pb2_grpc
from protos import snapshot_pb2 as pb

log = logging.getLogger("ai_gateway.control_plane.discovery")

HEARTBEAT_SECONDS = 10.0


@dataclass(eq=False)
class _Subscription:
    """One data plane's stream: who it is, what it holds, and the response it has not
    answered yet."""

    cluster: str
    node_id: str
    holds: str = ""  # the version it serves, as its last message said
    accepts_delta: bool = False
    awaiting: str = ""  # the nonce of the response in flight
    awaiting_delta: bool = False
    resend_whole: bool = False  # it NACKed a delta: the same version goes again, whole
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def sent(self, nonce: str, *, delta: bool) -> None:
        self.awaiting, self.awaiting_delta = nonce, delta
        self.resend_whole = False
        self.answered.clear()

    def replied(self, reply: dpb.DiscoveryRequest) -> bool:
        """A reply; it answers the response in flight only when it names that response.
        True when it NACKs a delta (the same version goes whole next: not a rejection of
        the config yet)."""
        self.holds = reply.version_info
        if not reply.response_nonce or reply.response_nonce != self.awaiting:
            return False
        self.resend_whole = bool(reply.error_detail) and self.awaiting_delta
        self.awaiting = ""
        self.answered.set()
        return self.resend_whole


class ConfigDiscoveryService(discovery_pb2_grpc.ConfigDiscoveryServicer):  # type: ignore[misc]
    def __init__(
        self,
        cache: SnapshotCache,
        watcher: RevisionWatcher,
        dataplanes: DataPlaneStore,
        access: DataPlaneAccess | None = None,
        events: WebhookOutbox | None = None,
    ) -> None:
        self._events = events
        self._access = access or DataPlaneAccess()
        self._cache = cache
        self._watcher = watcher
        self._dataplanes = dataplanes
        self.connected: dict[tuple[str, str], str] = {}  # (cluster, node) -> version sent
        self.lags: dict[tuple[str, str], float] = {}  # (cluster, node) -> seconds to its last ACK
        self._leaving: set[asyncio.Task[None]] = set()  # disconnections being recorded
        self._streams: dict[tuple[str, str], _Subscription] = {}
        self._propagation: dict[str, Histogram] = {}  # each cluster's series

    async def StreamSnapshots(
        self,
        request_iterator: AsyncIterator[dpb.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[bytes]:  # encoded DiscoveryResponses (server.discovery_handler)
        token = await self._access.caller(context)
        hello = await anext(request_iterator, None)
        if hello is None:
            return
        node = hello.node
        try:
            check_cluster_name(node.cluster)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"node.cluster: {exc}")
        if not node.id or len(node.id) > 255:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node.id: 1 to 255 characters")
        await self._access.check_scope(context, token, node.cluster)
        if not await self._watcher.exists(node.cluster):
            # Not recorded, not cached: made-up names leave nothing behind.
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"cluster '{node.cluster}' does not exist; create it with "
                f"ai-gateway-cli init --cluster {node.cluster}",
            )
        key = (node.cluster, node.id)
        # Tells the data plane the stream is accepted even when it holds the latest already.
        await context.send_initial_metadata((("aigw-accepted", "1"),))
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
        subscription = _Subscription(
            node.cluster, node.id, holds=hello.version_info, accepts_delta=hello.accepts_delta
        )
        subscription.answered.set()  # nothing in flight yet
        tasks = [
            asyncio.create_task(self._read_replies(request_iterator, subscription)),
            asyncio.create_task(self._heartbeat(node.cluster, node.id)),
        ]
        sent = hello.version_info
        self.connected[key] = sent
        counted = {  # the stream's series, looked up once rather than per response
            delta: (
                SNAPSHOTS_SENT.labels(node.cluster, kind),
                SNAPSHOT_BYTES_SENT.labels(node.cluster, kind),
            )
            for delta, kind in ((True, "delta"), (False, "full"))
        }
        self._streams[key] = subscription  # the node's newest stream (a reconnect replaces it)
        try:
            while True:
                await subscription.answered.wait()
                whole = subscription.resend_whole
                latest = self._cache.get(node.cluster) if whole else None
                snapshot = latest or await self._cache.wait_for_change(node.cluster, sent)
                sent = snapshot.version
                self.connected[key] = sent
                response = await self._response(subscription, snapshot, whole=whole)
                subscription.sent(response.nonce, delta=response.delta)
                responses, sizes = counted[response.delta]
                responses.inc()
                sizes.inc(len(response.data))
                yield response.data  # the same bytes for every stream: server.discovery_handler
        finally:
            for task in tasks:
                task.cancel()
            if self._streams.get(key) is subscription:  # else it reconnected: that one stays
                del self._streams[key]
                self.connected.pop(key, None)
                self.lags.pop(key, None)
                self._dataplanes.replies.forget(node.cluster, node.id)
                await self._record_leaving(node.cluster, node.id)
            log.info("data plane %s left cluster %s", node.id, node.cluster)

    async def _response(
        self, subscription: _Subscription, snapshot: pb.Snapshot, *, whole: bool
    ) -> EncodedResponse:
        """The changes from what the data plane holds when it takes them and they can be
        made; else the whole snapshot."""
        if subscription.accepts_delta and subscription.holds and not whole:
            made = self._cache.made_delta(snapshot, subscription.holds)
            delta = (
                made
                if made is not None
                else await self._cache.delta_response(snapshot, subscription.holds)
            )
            if delta is not None:
                return delta
        return self._cache.response(snapshot)

    async def _record_leaving(self, cluster: str, node_id: str) -> None:
        leaving = asyncio.create_task(self._dataplanes.mark_disconnected(cluster, node_id))
        self._leaving.add(leaving)
        leaving.add_done_callback(_forget_leaving(self._leaving))
        with contextlib.suppress(Exception):
            await asyncio.shield(leaving)  # recorded even when the stream is cancelled

    async def drain(self, within_s: float = 3.0) -> None:
        """Wait, at most ``within_s``, for the disconnections still being recorded: a stop
        closes the store after this (a write left running on a closed store never ends)."""
        if self._leaving:
            await asyncio.wait(set(self._leaving), timeout=within_s)

    async def _read_replies(
        self, replies: AsyncIterator[dpb.DiscoveryRequest], subscription: _Subscription
    ) -> None:
        cluster, node_id = subscription.cluster, subscription.node_id
        try:
            async for reply in replies:
                if subscription.replied(reply):
                    DELTAS_RESENT.labels(cluster).inc()
                    log.info(
                        "data plane %s could not apply a delta (%s); sending it whole",
                        node_id,
                        reply.error_detail[:512],
                    )
                    self._dataplanes.replies.reply(cluster, node_id, reply.version_info, "")
                    continue
                if reply.error_detail:
                    SNAPSHOT_NACKS.labels(cluster).inc()
                    await self._notify_rejected(cluster, node_id, reply)
                    log.warning(
                        "data plane %s rejected a snapshot: %s", node_id, reply.error_detail
                    )
                else:
                    self._observe_ack(cluster, node_id, reply.version_info)
                self._dataplanes.replies.reply(
                    cluster, node_id, reply.version_info, reply.error_detail
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream ended under us; the writer side cleans up
            log.debug("reading from data plane %s stopped: %s", node_id, exc)

    async def _notify_rejected(
        self, cluster: str, node_id: str, reply: dpb.DiscoveryRequest
    ) -> None:
        if self._events is None:
            return
        data = {"node": node_id, "servedVersion": reply.version_info, "reason": reply.error_detail}
        try:
            await self._events.enqueue(cluster, "snapshot.rejected", data)
        except Exception as exc:  # the stream goes on; the failure is counted and logged
            STORE_ERRORS.labels("webhooks").inc()
            log.warning("cannot queue the snapshot.rejected webhook: %s", exc)

    def _observe_ack(self, cluster: str, node_id: str, version: str) -> None:
        age = self._cache.age(cluster, version)
        if age is not None:
            propagation = self._propagation.get(cluster)
            if propagation is None:  # once per cluster: a change brings an ACK per data plane
                propagation = self._propagation[cluster] = PROPAGATION.labels(cluster)
            propagation.observe(age)
            self.lags[(cluster, node_id)] = age

    async def _heartbeat(self, cluster: str, node_id: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._dataplanes.replies.seen(cluster, node_id)


def _forget_leaving(
    leaving: set[asyncio.Task[None]],
) -> Callable[[asyncio.Task[None]], None]:
    def forget(task: asyncio.Task[None]) -> None:
        leaving.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cannot record a data plane leaving: %s", task.exception())

    return forget
