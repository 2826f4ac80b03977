"""A data plane's side of the ConfigDiscovery stream, driven by hand in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType

import grpc

from protos import discovery_pb2 as dpb
from protos import discovery_pb2_grpc
from protos import snapshot_pb2 as pb


class SnapshotStream:
    def __init__(
        self,
        target: str,
        cluster: str,
        node_id: str,
        version: str = "",
        token: str | None = None,
        accepts_delta: bool = False,
    ) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._outbox: asyncio.Queue[dpb.DiscoveryRequest | None] = asyncio.Queue()
        self.node = dpb.Node(
            id=node_id, cluster=cluster, software_version="test", hostname="test-host"
        )
        self._version = version
        self._accepts_delta = accepts_delta
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._call = self._open()

    def _open(self) -> grpc.aio.StreamStreamCall[dpb.DiscoveryRequest, dpb.DiscoveryResponse]:
        self._outbox = asyncio.Queue()
        self._outbox.put_nowait(
            dpb.DiscoveryRequest(
                node=self.node, version_info=self._version, accepts_delta=self._accepts_delta
            )
        )
        stub = discovery_pb2_grpc.ConfigDiscoveryStub(self._channel)
        return stub.StreamSnapshots(self._requests(), metadata=self._metadata)

    async def _requests(self) -> AsyncIterator[dpb.DiscoveryRequest]:
        while (request := await self._outbox.get()) is not None:
            yield request

    async def next(self, timeout: float = 5.0) -> tuple[pb.Snapshot, str]:
        response = await self.response(timeout)
        return response.snapshot, response.nonce

    async def response(self, timeout: float = 5.0) -> dpb.DiscoveryResponse:
        """The next response as it came: a whole snapshot, or a delta."""
        response = await asyncio.wait_for(self._call.read(), timeout)
        assert isinstance(response, dpb.DiscoveryResponse), "the control plane closed the stream"
        return response

    def ack(self, snapshot: pb.Snapshot, nonce: str) -> None:
        self._outbox.put_nowait(
            dpb.DiscoveryRequest(version_info=snapshot.version, response_nonce=nonce)
        )

    def nack(self, held_version: str, nonce: str, reason: str) -> None:
        self._outbox.put_nowait(
            dpb.DiscoveryRequest(
                version_info=held_version, response_nonce=nonce, error_detail=reason
            )
        )

    async def refusal(self, timeout: float = 5.0) -> grpc.StatusCode:
        """The status the control plane ended the stream with, before sending anything.

        grpc's asyncio client reports INTERNAL ("Internal error from Core") instead of the
        server's status when its first write lands after the server ended the call
        (grpc/grpc#36066); a refusal is the same every time, so that case asks again.
        """
        for _ in range(5):
            try:
                response = await asyncio.wait_for(self._call.read(), timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.INTERNAL and exc.details() == (
                    "Internal error from Core"
                ):
                    self._call = self._open()
                    continue
                return exc.code()
            raise AssertionError(f"the stream was not refused: {response}")
        raise AssertionError("the client library answered INTERNAL five times")

    async def close(self) -> None:
        self._outbox.put_nowait(None)
        self._call.cancel()
        await self._channel.close()

    async def __aenter__(self) -> SnapshotStream:
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.close()
