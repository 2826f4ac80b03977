"""A write commits only with a snapshot that builds; the control plane starts whatever is stored."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gateway import Gateway, dp_version, wait_until_serving


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        gw.add_upstream("alpha")
        gw.add_data_plane("dp-writes")
        yield gw
    finally:
        gw.stop()


def backend(gw: Gateway) -> str:
    return f"http://127.0.0.1:{gw.upstreams['alpha'].ready['port']}"


def cluster_view(gw: Gateway) -> dict[str, Any]:
    with gw.admin() as http:
        clusters = http.get("/api/v1/clusters").json()["clusters"]
    return next(c for c in clusters if c["name"] == gw.cluster)


def keys_of(gw: Gateway) -> httpx.Response:
    with gw.admin() as http:
        return http.get("/api/v1/keys", params={"cluster": gw.cluster})


@pytest.mark.parametrize(
    ("expires_in", "says"),
    [
        ("99999999999999999999d", "not a duration"),
        ("3651d", "longest lifetime"),
        ("315360001s", "longest lifetime"),
        ("0s", "at least 1s"),
        ("0d", "at least 1s"),
        ("-1s", "not a duration"),
        ("1.5h", "not a duration"),
        ("", "not a duration"),
        (5, "valid string"),
    ],
)
def test_a_key_lifetime_out_of_bounds_is_refused_and_nothing_is_stored(
    gateway: Gateway, expires_in: Any, says: str
) -> None:
    before = cluster_view(gateway)["revision"]
    with gateway.admin() as http:
        answer = http.post(
            "/api/v1/consumers/x/keys",
            params={"cluster": gateway.cluster},
            json={"expiresIn": expires_in},
        )
        consumers = http.get("/api/v1/consumers", params={"cluster": gateway.cluster}).json()
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "expiresIn"
    assert says in answer.json()["error"]["message"]
    assert cluster_view(gateway)["revision"] == before
    assert consumers["consumers"] == []
    # The cluster is not wedged: a later write is served by the data plane.
    gateway.add_route(path=f"/after-{uuid.uuid4().hex[:6]}", target=backend(gateway))
    assert keys_of(gateway).status_code == 200


def test_the_longest_lifetime_is_accepted_and_served(gateway: Gateway) -> None:
    gateway.add_route(path="/chat", target=backend(gateway))
    gateway.secure("/chat", authType="api-key")
    with gateway.admin() as http:
        made = http.post(
            "/api/v1/consumers/team-a/keys",
            params={"cluster": gateway.cluster},
            json={"expiresIn": "3650d"},
        )
    assert made.status_code == 201, made.text
    wait_until_serving(gateway.data_planes[0], int(made.headers["X-AI-Gateway-Revision"]))
    key = made.json()["key"]
    answer = httpx.get(gateway.proxy_url() + "/chat", headers={"X-API-Key": key})
    assert answer.status_code == 200


def _restart_with(gw: Gateway, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """What an older release left in the database: rows written by hand, the revision bumped."""
    assert gw.control_plane is not None
    gw.control_plane.stop()
    with sqlite3.connect(gw.workdir / "gateway.db") as db:
        for sql, parameters in statements:
            db.execute(sql, parameters)
        db.execute("UPDATE clusters SET revision = revision + 1 WHERE name = ?", (gw.cluster,))
    gw.control_plane.start()


def test_a_control_plane_starts_over_a_row_it_cannot_build_and_keeps_serving(
    gateway: Gateway,
) -> None:
    served = gateway.add_route(path="/chat", target=backend(gateway))
    plane = gateway.data_planes[0]
    old_version = dp_version(plane)
    spec = {"name": "evil", "path": "/evil", "targets": [{"url": "http://a:1/x\r\nX-Injected: 1"}]}
    now = time.time()
    _restart_with(
        gateway,
        (
            "INSERT INTO routes (id, cluster, name, position, spec, created_at, updated_at) "
            "VALUES (?, ?, 'evil', 5, ?, ?, ?)",
            (uuid.uuid4().hex, gateway.cluster, json.dumps(spec), now, now),
        ),
    )
    view = cluster_view(gateway)
    assert view["revision"] == served + 1
    assert "route 'evil'" in view["error"] and f"revision {served} keeps serving" in view["error"]
    assert gateway.control_plane is not None
    assert "route 'evil'" in gateway.control_plane.logs()
    metrics = httpx.get(gateway.control_plane.url + "/metrics").text
    assert f'aigw_cp_snapshot_build_failing{{cluster="{gateway.cluster}"}} 1.0' in metrics

    # The running data plane keeps its config; a new one gets the last snapshot that built.
    assert httpx.get(gateway.proxy_url() + "/chat").status_code == 200
    fresh = gateway.add_data_plane("dp-fresh")
    assert dp_version(fresh) == old_version
    assert httpx.get(gateway.proxy_url(1) + "/chat").status_code == 200

    # Writes that keep the broken row are refused and say why; deleting it heals the cluster.
    with gateway.admin() as http:
        params = {"cluster": gateway.cluster}
        refused = http.post(
            "/api/v1/routes", params=params, json={"path": "/x", "target": "http://a:1"}
        )
        assert refused.status_code == 422, refused.text
        assert "route 'evil'" in refused.json()["error"]["message"]
        assert cluster_view(gateway)["revision"] == served + 1
        healed = http.delete("/api/v1/routes/evil", params=params)
        assert healed.status_code == 200, healed.text
    revision = int(healed.headers["X-AI-Gateway-Revision"])
    for dp in gateway.data_planes:
        wait_until_serving(dp, revision)
    assert cluster_view(gateway)["error"] is None
    metrics = httpx.get(gateway.control_plane.url + "/metrics").text
    assert f'aigw_cp_snapshot_build_failing{{cluster="{gateway.cluster}"}} 0.0' in metrics


def test_a_key_stored_with_an_absurd_expiry_by_an_older_release_still_serves(
    gateway: Gateway,
) -> None:
    gateway.add_route(path="/chat", target=backend(gateway))
    gateway.secure("/chat", authType="api-key")
    with gateway.admin() as http:
        made = http.post("/api/v1/consumers/team-a/keys", params={"cluster": gateway.cluster})
    key, key_id = made.json()["key"], made.json()["id"]
    _restart_with(gateway, ("UPDATE api_keys SET expires_at = ? WHERE id = ?", (8.64e24, key_id)))
    assert cluster_view(gateway)["error"] is None
    listed = keys_of(gateway)
    assert listed.status_code == 200
    assert listed.json()["keys"][0]["expiresAt"].startswith("9999-12-31")
    wait_until_serving(gateway.data_planes[0], cluster_view(gateway)["revision"])
    assert httpx.get(gateway.proxy_url() + "/chat", headers={"X-API-Key": key}).status_code == 200


def test_deep_and_large_documents_get_400_and_the_loop_keeps_answering(gateway: Gateway) -> None:
    assert gateway.control_plane is not None
    url = gateway.control_plane.url
    with gateway.admin() as http:
        params = {"cluster": gateway.cluster}
        for body, content_type in [
            (b"routes: " + b"[" * 50_000 + b"]" * 50_000, "application/yaml"),
            (b"routes:\n" + b"- " * 5_000 + b"x\n", "application/yaml"),
            (b'{"routes": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json"),
            (b'{"routes": ' + b"[" * 100 + b"]" * 100 + b"}", "application/json"),
        ]:
            answer = http.post(
                "/api/v1/config",
                params=params,
                content=body,
                headers={"Content-Type": content_type},
            )
            assert answer.status_code == 400, answer.text[:300]
            assert "nested deeper than 64 levels" in answer.json()["error"]["message"]
        too_big = http.post(
            "/api/v1/config", params=params, content=b"#" * (4 * 1024 * 1024 + 1),
            headers={"Content-Type": "application/yaml"},
        )  # fmt: skip
        assert too_big.status_code == 413

    # A 4 MiB document takes seconds to parse; other admin calls are answered meanwhile.
    big = b"unknownKey:\n" + b"".join(b"  - %d\n" % i for i in range(380_000))
    assert len(big) <= 4 * 1024 * 1024
    outcome: dict[str, httpx.Response] = {}

    control_plane = gateway.control_plane

    def apply_big() -> None:
        with control_plane.client() as client:
            outcome["apply"] = client.post(
                "/api/v1/config", params={"cluster": gateway.cluster}, content=big,
                headers={"Content-Type": "application/yaml"}, timeout=120,
            )  # fmt: skip

    worker = threading.Thread(target=apply_big)
    worker.start()
    answered_meanwhile = 0
    while worker.is_alive():
        if httpx.get(url + "/healthz", timeout=30).status_code == 200 and worker.is_alive():
            answered_meanwhile += 1
    worker.join()
    assert outcome["apply"].status_code == 422
    assert outcome["apply"].json()["error"]["field"] == "unknownKey"
    assert answered_meanwhile > 0
