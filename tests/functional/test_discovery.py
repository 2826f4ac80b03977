"""Data planes subscribe to snapshots over gRPC: new versions within 1 s, ACK/NACK recorded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.control_plane import ControlPlaneProcess
from tests.support.snapshot_stream import SnapshotStream


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def dataplanes(plane: ControlPlaneProcess, cluster: str) -> list[dict[str, object]]:
    with plane.client() as http:
        return http.get("/api/v1/dataplanes", params={"cluster": cluster}).json()["dataplanes"]  # type: ignore[no-any-return]


async def test_new_version_arrives_within_a_second(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    async with SnapshotStream(control_plane.grpc_target, cluster, "dp-1") as stream:
        first, nonce = await stream.next()
        assert first.cluster == cluster and first.revision == 0 and not first.routes
        stream.ack(first, nonce)

        async with httpx.AsyncClient(
            base_url=control_plane.url, headers={"Authorization": f"Bearer {control_plane.api_key}"}
        ) as http:
            started = time.monotonic()
            response = await http.post(
                "/api/v1/routes",
                params={"cluster": cluster},
                json={"path": "/predict", "target": "http://ai-service:8080", "method": "POST"},
            )
            assert response.status_code == 201
            second, nonce = await stream.next(timeout=1.0)
            assert time.monotonic() - started < 1.0
        assert second.version != first.version and second.revision == 1
        assert [
            (r.name, r.path.value, list(r.methods), r.targets[0].url) for r in second.routes
        ] == [("predict", "/predict", ["POST"], "http://ai-service:8080")]
        stream.ack(second, nonce)
        await wait_for(
            lambda: dataplanes(control_plane, cluster)[0]["appliedVersion"] == second.version
        )
        [status] = dataplanes(control_plane, cluster)
        assert status["nodeId"] == "dp-1" and status["connected"] is True
        assert status["lastNack"] is None and status["softwareVersion"] == "test"


async def test_nack_reason_is_shown_and_not_resent(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    async with SnapshotStream(control_plane.grpc_target, cluster, "dp-nack") as stream:
        first, nonce = await stream.next()
        stream.ack(first, nonce)
        with control_plane.client() as http:
            http.post(
                "/api/v1/routes",
                params={"cluster": cluster},
                json={"path": "/chat", "target": "http://llm-service:5000"},
            ).raise_for_status()
        _second, nonce = await stream.next(timeout=1.0)
        stream.nack(first.version, nonce, "route chat: cannot compile")
        await wait_for(lambda: dataplanes(control_plane, cluster)[0]["lastNack"] is not None)
        [status] = dataplanes(control_plane, cluster)
        assert status["lastNack"] == "route chat: cannot compile"
        assert status["appliedVersion"] == first.version, "a NACK keeps the last good version"
        try:
            await stream.next(timeout=0.5)
        except TimeoutError:
            pass
        else:
            raise AssertionError("the NACKed snapshot was sent again without a change")


async def test_a_data_plane_holding_the_current_version_gets_nothing(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    async with SnapshotStream(control_plane.grpc_target, cluster, "dp-a") as stream:
        current, _ = await stream.next()
    async with SnapshotStream(
        control_plane.grpc_target, cluster, "dp-b", version=current.version
    ) as again:
        try:
            await again.next(timeout=0.5)
        except TimeoutError:
            pass
        else:
            raise AssertionError("a snapshot was sent to a data plane that already holds it")


async def test_disconnect_is_recorded(control_plane: ControlPlaneProcess, cluster: str) -> None:
    async with SnapshotStream(control_plane.grpc_target, cluster, "dp-gone") as stream:
        await stream.next()
    await wait_for(lambda: dataplanes(control_plane, cluster)[0]["connected"] is False)


async def test_grpc_health_serves(control_plane: ControlPlaneProcess) -> None:
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "aigw.v1.ConfigDiscovery", "aigw.v1.Admin"):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_replicas_on_one_postgres_pick_up_each_others_changes(
    postgres_url: str, tmp_path: Path
) -> None:
    first = ControlPlaneProcess(tmp_path, postgres_url, cluster="aimlops").start()
    second = ControlPlaneProcess(tmp_path, postgres_url, cluster="aimlops").start()
    try:
        async with SnapshotStream(second.grpc_target, "aimlops", "dp-on-second") as stream:
            initial, nonce = await stream.next()
            stream.ack(initial, nonce)
            started = time.monotonic()
            with first.client() as http:
                http.post(
                    "/api/v1/routes",
                    params={"cluster": "aimlops"},
                    json={"path": "/predict", "target": "http://ai-service:8080"},
                ).raise_for_status()
            changed, nonce = await stream.next(timeout=1.0)
            assert time.monotonic() - started < 1.0
            assert [r.path.value for r in changed.routes] == ["/predict"]
            stream.ack(changed, nonce)
            # What the data plane told the second replica is visible through the first.
            await wait_for(
                lambda: (
                    [d["appliedVersion"] for d in dataplanes(first, "aimlops")] == [changed.version]
                )
            )
    finally:
        first.stop()
        second.stop()


async def test_one_response_in_flight_then_the_latest(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    """A data plane that has not answered gets nothing more; when it answers, it gets the
    newest snapshot, not the versions made meanwhile one after another."""
    async with SnapshotStream(control_plane.grpc_target, cluster, "dp-slow") as stream:
        first, nonce = await stream.next()
        with control_plane.client() as http:
            for index in range(3):
                http.post(
                    "/api/v1/routes",
                    params={"cluster": cluster},
                    json={"path": f"/r{index}", "target": "http://llm-service:5000"},
                ).raise_for_status()
        stream.ack(first, nonce)
        latest, _ = await stream.next(timeout=5.0)
        assert latest.revision == 3 and len(latest.routes) == 3


async def test_the_control_plane_stops_by_itself_while_data_planes_leave(tmp_path: Path) -> None:
    """SIGTERM with streams open: each stream's end is recorded before the store closes (a
    write left running on a closed store kept the process from ever exiting)."""
    plane = ControlPlaneProcess(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}").start()
    streams = [SnapshotStream(plane.grpc_target, "default", f"dp-{i}") for i in range(5)]
    try:
        for stream in streams:
            snapshot, nonce = await stream.next()
            stream.ack(snapshot, nonce)
        await wait_for(lambda: len(dataplanes(plane, "default")) == 5)
        assert plane.child is not None and plane.child.process is not None
        for stream in streams[:3]:  # these leave as the stop begins; the others stay
            await stream.close()
        plane.child.process.terminate()
        code = await asyncio.to_thread(plane.child.process.wait, 15)
        assert code == 0, plane.child.logs()[-3000:]
    finally:
        for stream in streams:
            await stream.close()
        plane.stop()
