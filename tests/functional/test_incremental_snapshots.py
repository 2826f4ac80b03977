"""Data planes get what changed, not the whole snapshot, and end up serving exactly what a
whole snapshot would give (real control planes and data planes on loopback)."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from protos.snapshot_delta import apply_delta
from tests.support.control_plane import ControlPlaneProcess
from tests.support.gateway import Gateway, dp_version, wait_until_serving
from tests.support.processes import ChildProcess, data_plane
from tests.support.snapshot_stream import SnapshotStream


def metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(url + "/metrics").text
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


def applied(plane: ChildProcess, kind: str) -> float:
    ops = f"http://127.0.0.1:{plane.ready['ops_port']}"
    return metric(ops, "aigw_snapshots_applied_total", kind=kind)


def route(number: int, target: str) -> dict[str, str]:
    return {"name": f"svc-{number}", "path": f"/svc-{number}", "target": target}


def test_a_data_plane_is_sent_changes_and_one_that_missed_versions_converges(
    tmp_path: Path,
) -> None:
    gw = Gateway(tmp_path)
    gw.start_control_plane()
    try:
        backend = gw.add_upstream("backend")
        gw.apply({"routes": [route(n, backend) for n in range(20)]})
        plane = gw.add_data_plane("dp")
        assert applied(plane, "full") == 1 and applied(plane, "delta") == 0
        for number in range(20, 23):
            gw.add_route(**route(number, backend))
        assert applied(plane, "full") == 1 and applied(plane, "delta") == 3
        assert httpx.get(gw.proxy_url() + "/svc-22").json()["server"] == "backend"

        # Gone while five versions are made: it comes back holding its cached one.
        plane.stop()
        with gw.admin() as http:
            params = {"cluster": gw.cluster}
            for number in range(23, 27):
                http.post("/api/v1/routes", params=params, json=route(number, backend))
            deleted = http.delete("/api/v1/routes/svc-3", params=params)
            revision = int(deleted.raise_for_status().json()["revision"])
        plane.start()
        wait_until_serving(plane, revision)
        assert applied(plane, "delta") == 1 and applied(plane, "full") == 0
        assert httpx.get(gw.proxy_url() + "/svc-26").json()["server"] == "backend"
        assert httpx.get(gw.proxy_url() + "/svc-3").status_code == 404

        # What it serves is the control plane's latest snapshot, byte for byte: a data plane
        # that starts now gets it whole and reports the same version.
        fresh = gw.add_data_plane("dp-fresh")
        wait_until_serving(fresh, revision)
        assert dp_version(fresh) == dp_version(plane) and applied(fresh, "full") == 1
        assert gw.control_plane is not None
        cp = gw.control_plane.url
        sent = metric(cp, "aigw_cp_snapshot_bytes_sent_total", kind="delta")
        assert 0 < sent < metric(cp, "aigw_cp_snapshot_bytes_sent_total", kind="full")
    finally:
        gw.stop()


async def test_a_nacked_delta_is_followed_by_the_whole_snapshot(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    async with SnapshotStream(
        control_plane.grpc_target, cluster, "dp-nack", accepts_delta=True
    ) as stream:
        first = await stream.response()
        assert first.HasField("snapshot") and not first.HasField("delta")
        stream.ack(first.snapshot, first.nonce)
        with control_plane.client() as http:
            http.post(
                "/api/v1/routes",
                params={"cluster": cluster},
                json={"path": "/one", "target": "http://ai-service:8080"},
            ).raise_for_status()
        changes = await stream.response()
        assert changes.HasField("delta") and changes.delta.base_version == first.snapshot.version
        assert [r.path.value for r in changes.delta.routes.upserted] == ["/one"]
        stream.nack(first.snapshot.version, changes.nonce, "could not apply it")
        again = await stream.response()
        assert again.HasField("snapshot") and again.snapshot.version == changes.delta.head.version
        assert [r.path.value for r in again.snapshot.routes] == ["/one"]
        stream.ack(again.snapshot, again.nonce)
    # Not a rejection of the config (no snapshot.rejected, no NACK counted): a delta resent.
    cp = control_plane.url
    assert metric(cp, "aigw_cp_deltas_resent_whole_total", cluster=cluster) == 1
    assert metric(cp, "aigw_cp_snapshot_nacks_total", cluster=cluster) == 0


async def test_one_route_changed_sends_the_same_bytes_at_any_cluster_size(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    sizes = []
    for count in (10, 1000):
        name = f"{cluster}-{count}"
        with control_plane.client() as http:
            http.post("/api/v1/clusters", json={"name": name}).raise_for_status()
            routes = [route(n, "http://ai-service:8080") for n in range(count)]
            http.post(
                "/api/v1/config", params={"cluster": name}, json={"routes": routes}
            ).raise_for_status()
        async with SnapshotStream(
            control_plane.grpc_target, name, "dp-size", accepts_delta=True
        ) as stream:
            whole = await stream.response()
            stream.ack(whole.snapshot, whole.nonce)
            with control_plane.client() as http:
                http.put(
                    "/api/v1/routes/svc-5",
                    params={"cluster": name},
                    json={"path": "/svc-5", "target": "http://llm-service:5000"},
                ).raise_for_status()
            changes = await stream.response()
            assert len(changes.delta.routes.upserted) == 1 and not changes.delta.routes.removed
            rebuilt, touched = apply_delta(whole.snapshot, changes.delta)
            assert touched == {changes.delta.routes.upserted[0].id}
            assert [t.url for t in rebuilt.routes[5].targets] == ["http://llm-service:5000"]
            sizes.append((changes.ByteSize(), whole.ByteSize()))
    (small, small_whole), (large, large_whole) = sizes
    assert large_whole > 50 * small_whole
    assert abs(large - small) <= 16, sizes  # names and the revision differ by a few digits


def test_two_replicas_on_postgres_serve_the_same_changes(postgres_url: str, tmp_path: Path) -> None:
    first = ControlPlaneProcess(tmp_path, postgres_url, cluster="aimlops").start()
    second = ControlPlaneProcess(tmp_path, postgres_url, cluster="aimlops").start()
    planes: list[ChildProcess] = []
    try:
        for name, replica in (("dp-a", first), ("dp-b", second)):
            plane = data_plane(tmp_path, name, replica.grpc_target, "aimlops").start()
            planes.append(plane)
            wait_until_serving(plane, 0)
        with first.client() as http:
            for number in range(6):
                answer = http.post(
                    "/api/v1/routes",
                    params={"cluster": "aimlops"},
                    json=route(number, "http://ai-service:8080"),
                )
                answer.raise_for_status()
                revision = int(answer.headers["X-AI-Gateway-Revision"])
                for plane in planes:
                    wait_until_serving(plane, revision)
                assert dp_version(planes[0]) == dp_version(planes[1])
        assert applied(planes[0], "delta") == 6
        assert applied(planes[1], "delta") >= 1, "the other replica sent changes too"
        assert applied(planes[0], "full") == applied(planes[1], "full") == 1
    finally:
        for plane in planes:
            plane.stop()
        first.stop()
        second.stop()
