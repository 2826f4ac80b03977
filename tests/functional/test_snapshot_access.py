"""Snapshots (key digests, HMAC secrets) go only to callers that may read that cluster."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.support.control_plane import ControlPlaneProcess
from tests.support.processes import data_plane
from tests.support.snapshot_stream import SnapshotStream

TOKEN_A, TOKEN_ALL = "token-for-a-0123456789", "token-for-all-0123456789"


def non_loopback_address() -> str:
    """An address of this machine that is not loopback: how a remote data plane arrives."""
    listed = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout
    for line in listed.splitlines():
        address = line.split()[3].split("/")[0]
        return address
    pytest.fail("this machine has no non-loopback IPv4 address to test remote callers with")


def start(tmp_path: Path, *extra: str) -> ControlPlaneProcess:
    plane = ControlPlaneProcess(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}",
        cluster="alpha",
        extra_args=["--grpc-listen", "0.0.0.0:0", *extra],
    )
    plane.start()
    with plane.client() as http:
        http.post("/api/v1/clusters", json={"name": "beta"}).raise_for_status()
    return plane


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(f"# scoped tokens\nalpha {TOKEN_A}\n* {TOKEN_ALL}\n")
    return path


@pytest.fixture
def unprotected(tmp_path: Path) -> Iterator[ControlPlaneProcess]:
    plane = start(tmp_path)
    yield plane
    plane.stop()


def remote(plane: ControlPlaneProcess) -> str:
    port = plane.child.ready["grpc_port"] if plane.child else 0
    return f"{non_loopback_address()}:{port}"


async def test_without_a_token_only_this_machine_reads_snapshots(
    unprotected: ControlPlaneProcess,
) -> None:
    async with SnapshotStream(remote(unprotected), "alpha", "dp-remote") as stream:
        assert await stream.refusal() == grpc.StatusCode.PERMISSION_DENIED
    async with SnapshotStream(unprotected.grpc_target, "alpha", "dp-local") as stream:
        snapshot, _ = await stream.next()
        assert snapshot.cluster == "alpha"
    assert "without a data-plane token or client CA" in unprotected.logs()


async def test_insecure_dataplanes_lets_remote_callers_read(tmp_path: Path) -> None:
    plane = start(tmp_path, "--insecure-dataplanes")
    try:
        async with SnapshotStream(remote(plane), "alpha", "dp-remote") as stream:
            snapshot, _ = await stream.next()
            assert snapshot.cluster == "alpha"
    finally:
        plane.stop()


async def test_tokens_read_only_their_clusters(tmp_path: Path, tokens_file: Path) -> None:
    plane = start(
        tmp_path,
        "--dataplane-token",
        "bare-token-0123456789",
        "--dataplane-tokens-file",
        str(tokens_file),
    )
    try:
        target = remote(plane)
        allowed = [
            ("alpha", TOKEN_A),
            ("alpha", TOKEN_ALL),
            ("beta", TOKEN_ALL),
            ("alpha", "bare-token-0123456789"),  # the bare token reads the default cluster
        ]
        for cluster, token in allowed:
            async with SnapshotStream(target, cluster, "dp", token=token) as stream:
                snapshot, _ = await stream.next()
                assert snapshot.cluster == cluster
        refused: list[tuple[str, str | None, grpc.StatusCode]] = [
            ("beta", TOKEN_A, grpc.StatusCode.PERMISSION_DENIED),
            ("beta", "bare-token-0123456789", grpc.StatusCode.PERMISSION_DENIED),
            ("alpha", None, grpc.StatusCode.UNAUTHENTICATED),
            ("alpha", "wrong", grpc.StatusCode.UNAUTHENTICATED),
        ]
        for cluster, given, code in refused:
            async with SnapshotStream(target, cluster, "dp-x", token=given) as stream:
                assert await stream.refusal() == code
        with plane.client() as http:
            nodes = {d["nodeId"] for d in http.get("/api/v1/dataplanes").json()["dataplanes"]}
        assert "dp-x" not in nodes  # refused callers leave no record
    finally:
        plane.stop()


async def test_made_up_clusters_are_refused_and_leave_no_rows(
    unprotected: ControlPlaneProcess,
) -> None:
    for index in range(200):
        async with SnapshotStream(
            unprotected.grpc_target, f"made-up-{index}", f"dp-{index}"
        ) as stream:
            assert await stream.refusal() == grpc.StatusCode.NOT_FOUND
    with unprotected.client() as http:
        assert http.get("/api/v1/dataplanes").json()["dataplanes"] == []
        clusters = {c["name"] for c in http.get("/api/v1/clusters").json()["clusters"]}
    assert clusters == {"alpha", "beta"}


def test_a_data_plane_of_a_cluster_that_does_not_exist_says_so(
    unprotected: ControlPlaneProcess, tmp_path: Path
) -> None:
    plane = data_plane(tmp_path, "dp-lost", unprotected.grpc_target, "nowhere").start()
    try:
        ops = f"http://127.0.0.1:{plane.ready['ops_port']}"
        deadline = time.monotonic() + 10
        while "does not exist" not in (
            error := httpx.get(ops + "/readyz").json()["lastError"] or ""
        ):
            assert time.monotonic() < deadline, error
            time.sleep(0.05)
        assert "ai-gateway-cli init --cluster nowhere" in error
        assert httpx.get(ops + "/readyz").status_code == 503
    finally:
        plane.stop()
