"""History and rollback: every change of a cluster's document is kept with who made it, and a
rollback is a new revision holding an old document, served like any change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ai_gateway import AI_Gateway
from control_plane.domain.config import GatewayConfig
from control_plane.domain.identity import ConsumerSpec, JwtProviderSpec
from control_plane.domain.validation import parse
from control_plane.errors import InvalidInput, NotFound
from control_plane.kubernetes.pod_backends import backend_of
from control_plane.store.config_store import ConfigStore
from control_plane.store.identity_store import IdentityStore
from control_plane.store.revision_history import ChangeAuthor, authored_by, credential_name
from tests.functional.test_store import engine, route  # noqa: F401 (the engine fixture)
from tests.support.gateway import Gateway, wait_until_serving
from tests.support.kube_api import pod as kube_pod


def served_by(gw: Gateway, path: str) -> dict[str, Any]:
    answer = httpx.get(gw.proxy_url() + path + "/echo")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_history_diff_and_rollback_through_cli_rest_and_sdk(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        control_plane = gw.start_control_plane("--history-revisions", "50")
        first, second = gw.add_upstream("first"), gw.add_upstream("second")
        plane = gw.add_data_plane("dp")
        original = {
            "routes": [
                {
                    "name": "chat",
                    "path": "/chat",
                    "targets": [
                        {"url": first, "auth": {"header": "X-Backend-Key", "value": "s3cret"}}
                    ],
                    "tags": ["ai"],
                }
            ],
            "security": [{"endpoint": "/chat", "rateLimit": "50/min"}],
        }
        applied = gw.apply(original)
        with gw.admin() as http:
            exported = http.get("/api/v1/config", params={"cluster": gw.cluster}).json()
        assert served_by(gw, "/chat")["headers"]["X-Backend-Key"] == "s3cret"

        # Two later changes, over REST and the CLI.
        gw.write("PUT", "/api/v1/routes/chat", {"path": "/chat", "target": second}, (200,))
        assert "/chat" in gw.cli("secure", "--endpoint", "/chat", "--rate-limit", "none")
        assert served_by(gw, "/chat")["server"] == "second"

        shown = gw.cli("history")
        lines = [line for line in shown.splitlines() if "admin key" in line]
        assert [line.split("│")[1].strip() for line in lines][:3] == [
            str(applied + 2), str(applied + 1), str(applied)
        ]  # fmt: skip
        assert "patch security /chat" in lines[0] and "update route chat" in lines[1]
        assert "apply" in lines[2] and "127.0.0.1" in lines[2]
        assert credential_name(control_plane.api_key) in lines[0]
        assert control_plane.api_key not in shown

        # The kept document is the export of its time, the credential redacted.
        with gw.admin() as http:
            kept = http.get(f"/api/v1/revisions/{applied}", params={"cluster": gw.cluster})
        assert kept.status_code == 200, kept.text
        assert kept.json()["document"] == exported
        assert "s3cret" not in kept.text and kept.json()["action"] == "apply"

        changed = gw.cli("diff", "--revision", str(applied), "-o", "json", check_code=1)
        fields = {c["key"]: c.get("fields") for c in json.loads(changed)["changes"] if c["fields"]}
        assert f"targets[0].url: {first} -> {second}" in fields["chat"]
        assert "rateLimit: 50/min -> (none)" in fields["/chat"]

        dry = gw.cli("rollback", "--to", str(applied), "--dry-run")
        assert "~ route chat" in dry and "dry run: nothing changed" in dry
        assert served_by(gw, "/chat")["server"] == "second"

        rolled = gw.cli("rollback", "--to", str(applied))
        assert f"rolled back to revision {applied}: revision {applied + 3}" in rolled
        wait_until_serving(plane, applied + 3)
        answer = served_by(gw, "/chat")
        assert answer["server"] == "first" and answer["headers"]["X-Backend-Key"] == "s3cret"
        with gw.admin() as http:
            now = http.get("/api/v1/config", params={"cluster": gw.cluster}).json()
            listed = http.get("/api/v1/revisions", params={"cluster": gw.cluster}).json()
        assert now == exported  # the exact document
        assert listed["kept"] == 50  # --history-revisions
        assert listed["revisions"][0]["revision"] == applied + 3
        assert listed["revisions"][0]["action"] == f"rollback to {applied}"

        # The SDK: the same, and a rollback to what is there already changes nothing.
        cluster = AI_Gateway(url=control_plane.url, api_key=control_plane.api_key).connect(
            cluster=gw.cluster
        )
        assert [e["revision"] for e in cluster.history()][:2] == [applied + 3, applied + 2]
        assert cluster.revision_diff(applied, to=applied + 3)["changes"] == []
        again = cluster.rollback(applied + 3)
        assert not again["applied"] and again["revision"] == applied + 3
        assert "already holds" in gw.cli("rollback", "--to", str(applied + 3))

        missing = gw.cli("rollback", "--to", "999", check_code=1, stream="stderr")
        assert "revision 999" in missing and "not in the history" in missing
        with gw.admin() as http:
            for wrong in ("latest", "%C2%B2", "-1", "1" * 19):
                bad = http.get(f"/api/v1/revisions/{wrong}", params={"cluster": gw.cluster})
                assert bad.status_code == 400, wrong
                assert bad.json()["error"]["field"] == "revision", wrong
            # With a consumer in the cluster (the history keeps none): nothing changed since.
            made = http.post(
                "/api/v1/consumers/team-a/keys", params={"cluster": gw.cluster}, json={}
            )
            assert made.status_code == 201
        assert "no changes" in gw.cli("diff", "--revision", str(applied + 3))
    finally:
        gw.stop()


async def test_only_document_changes_are_kept_and_the_newest_n(engine: AsyncEngine) -> None:  # noqa: F811
    store = ConfigStore(engine, history_keep=3)
    await store.ensure_cluster("aimlops")
    with authored_by(ChangeAuthor("admin key abc", "10.0.0.7")):
        for index in range(5):
            await store.create_route("aimlops", route(f"/r{index}"))
    await IdentityStore(store).create_consumer("aimlops", ConsumerSpec(name="team-a"))
    pod = backend_of(kube_pod("ai-pod", 8000, labels={"app": "ai-pod"}, gateway="true"))
    assert pod is not None and await store.replace_discovered("aimlops", [pod]) is not None
    kept = await store.history("aimlops")
    assert [e.revision for e in kept] == [5, 4, 3]  # the consumer (6) and the pod (7): none
    assert {(e.actor, e.address) for e in kept} == {("admin key abc", "10.0.0.7")}
    assert kept[0].action == "create route r4" and kept[0].routes == 5
    with pytest.raises(NotFound, match=r"revision 2 .* not in the history"):
        await store.revision_document("aimlops", 2)
    entry, document = await store.revision_document("aimlops", 3)
    assert [r.name for r in document.routes] == ["r0", "r1", "r2"]
    assert entry.actor == "admin key abc"


async def test_a_rollback_that_cannot_be_served_now_changes_nothing(
    engine: AsyncEngine,  # noqa: F811
) -> None:
    """Revision 2 names a JWT provider that was deleted since: the rollback is refused, as an
    apply of that document would be, and the cluster stays as it is."""
    store = ConfigStore(engine)
    identities = IdentityStore(store)
    await store.ensure_cluster("aimlops")
    spec = {"name": "corp", "jwksUrl": "https://id.example/jwks", "algorithms": ["RS256"]}
    await identities.put_jwt_provider("aimlops", parse(JwtProviderSpec, spec))
    document = {
        "routes": [{"path": "/chat", "target": "http://llm:5000"}],
        "security": [{"endpoint": "/chat", "authType": "jwt", "jwtProviders": ["corp"]}],
    }
    _, with_jwt = await store.apply("aimlops", parse(GatewayConfig, document))
    _, without = await store.apply("aimlops", parse(GatewayConfig, {"routes": document["routes"]}))
    await identities.delete_jwt_provider("aimlops", "corp")
    before = await store.revision("aimlops")
    _, config = await store.revision_document("aimlops", with_jwt)
    with pytest.raises(InvalidInput, match="JWT provider 'corp'"):
        await store.apply("aimlops", config, action=f"rollback to {with_jwt}")
    assert await store.revision("aimlops") == before
    assert (await store.history("aimlops"))[0].revision == without
