"""Documents that hold everything: consumers with their keys, JWT providers, policies and
routes in one file, its secrets as ``${env:...}``/``${file:...}`` references the CLI resolves,
an export that never holds a secret, and ``apply(export())`` that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from ai_gateway import AI_Gateway
from tests.support.gateway import Gateway, wait_until_serving

TEAM_A_KEY = "team-a-" + "k" * 40
JWT_SECRET = "s" * 48


def called(gw: Gateway, key: str) -> int:
    return httpx.get(gw.proxy_url() + "/chat/echo", headers={"X-API-Key": key}).status_code


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path)
    gateway.start_control_plane()
    yield gateway
    gateway.stop()


def test_one_file_holds_consumers_keys_and_providers(gw: Gateway) -> None:
    backend = gw.add_upstream("backend")
    plane = gw.add_data_plane("dp")
    (gw.workdir / "jwt.secret").write_text(JWT_SECRET + "\n")
    document = {
        "routes": [{"name": "chat", "path": "/chat", "target": backend}],
        "security": [{"endpoint": "/chat", "auth": "api-key"}],
        "consumers": [
            {"name": "team-a", "tags": ["ai"],
             "keys": [{"key": "${env:TEAM_A_KEY}", "routes": ["chat"]}]},
        ],
        "jwtProviders": [{"name": "corp", "algorithms": ["HS256"], "secret": "${file:jwt.secret}"}],
    }  # fmt: skip
    config = gw.workdir / "gateway.yaml"
    config.write_text(yaml.safe_dump(document))
    env = {"TEAM_A_KEY": TEAM_A_KEY}

    applied = gw.cli("apply", "-f", str(config), env=env)
    assert "+ consumer team-a" in applied and "+ jwtProvider corp" in applied
    assert TEAM_A_KEY not in applied and JWT_SECRET not in applied
    revision = int(applied.rsplit("revision ", 1)[1].split()[0])
    wait_until_serving(plane, revision)
    assert called(gw, TEAM_A_KEY) == 200  # the imported key, as the data plane checks it
    assert called(gw, "team-a-" + "x" * 40) == 401

    exported = gw.cli("export", env=env)
    assert TEAM_A_KEY not in exported and JWT_SECRET not in exported
    back = yaml.safe_load(exported)
    (key,) = back["consumers"][0]["keys"]
    assert set(key) == {"id", "prefix", "routes"} and key["routes"] == ["chat"]
    assert back["jwtProviders"][0]["secret"] == "<redacted>"
    assert back["consumers"][0]["tags"] == ["ai"]

    # The export applied, and the file applied again: nothing to change.
    (gw.workdir / "export.yaml").write_text(exported)
    assert "no changes" in gw.cli("apply", "-f", "export.yaml", env=env)
    assert "no changes" in gw.cli("apply", "-f", str(config), env=env)

    # A rotated secret is a change, shown without the secret.
    (gw.workdir / "jwt.secret").write_text("t" * 48)
    rotated = gw.cli("diff", "-f", str(config), env=env, check_code=1)
    assert "~ jwtProvider corp" in rotated and "<redacted: changed>" in rotated
    assert "t" * 48 not in rotated

    # A reference that cannot be resolved: the field and the variable named, nothing applied.
    refused = gw.cli(
        "apply", "-f", str(config), env={"TEAM_A_KEY": ""}, check_code=1, stream="stderr"
    )
    assert "consumers[0].keys[0]" in refused and "at least 20 characters" in refused
    missing = gw.cli("apply", "-f", str(config), env={}, check_code=1, stream="stderr")
    assert "${env:TEAM_A_KEY} is not set" in missing and "consumers[0].keys[0].key" in missing

    # A document without consumers leaves them; one whose consumer lists no keys revokes them.
    routes_only = gw.workdir / "routes.yaml"
    routes_only.write_text(yaml.safe_dump({k: document[k] for k in ("routes", "security")}))
    kept = gw.cli("apply", "-f", str(routes_only), env=env)
    assert "consumer" not in kept and "jwtProvider" not in kept
    no_keys = {**back, "consumers": [{"name": "team-a", "tags": ["ai"], "keys": []}]}
    (gw.workdir / "revoke.yaml").write_text(yaml.safe_dump(no_keys))
    revoked = gw.cli("apply", "-f", "revoke.yaml", env=env)
    assert "~ consumer team-a" in revoked
    wait_until_serving(plane, int(revoked.rsplit("revision ", 1)[1].split()[0]))
    assert called(gw, TEAM_A_KEY) == 401


def test_key_ids_and_owners_are_checked(gw: Gateway) -> None:
    with gw.admin() as http:
        params = {"cluster": gw.cluster}
        made = http.post("/api/v1/consumers/team-a/keys", params=params, json={})
        assert made.status_code == 201
        document = {"consumers": [{"name": "team-b", "keys": [{"id": made.json()["id"]}]}]}
        stolen = http.post("/api/v1/config", params=params, json=document)
        assert stolen.status_code == 422, stolen.text
        assert stolen.json()["error"]["field"] == "consumers[0].keys[0].id"
        twice = {"consumers": [{"name": "team-b", "keys": [{"key": made.json()["key"]}]}]}
        taken = http.post("/api/v1/config", params=params, json=twice)
        assert taken.status_code == 409 and "team-a" in taken.json()["error"]["message"]
        twice_in_one = {"consumers": [{"name": n, "keys": [{"key": "same-" + "k" * 30}]}
                                      for n in ("c1", "c2")]}  # fmt: skip
        refused = http.post("/api/v1/config", params=params, json=twice_in_one)
        assert refused.status_code == 422 and "belongs to one consumer" in refused.text
        # Consumers without keys: their keys are kept, and the same file again changes nothing.
        names_only = {"consumers": [{"name": "team-a", "tags": ["ai"]}]}
        first = http.post("/api/v1/config", params=params, json=names_only).json()
        assert first["applied"] and [c["action"] for c in first["changes"]] == ["update"]
        again = http.post("/api/v1/config", params=params, json=names_only).json()
        assert again["changes"] == [] and not again["applied"]
        keys = http.get("/api/v1/keys", params=params).json()["keys"]
        assert [k["consumer"] for k in keys] == ["team-a"]
        weak = http.post(
            "/api/v1/config",
            params=params,
            json={"consumers": [{"name": "c", "keys": [{"key": "short"}]}]},
        )
        assert weak.status_code == 422 and "at least 20 characters" in weak.text
        assert len(http.get("/api/v1/consumers", params=params).json()["consumers"]) == 1


def test_two_teams_consumers_under_select_tags(gw: Gateway) -> None:
    with gw.admin() as http:
        params = {"cluster": gw.cluster}
        for team in ("team-a", "team-b"):
            document = {"consumers": [{"name": f"{team}-app", "keys": []}]}
            answer = http.post(
                "/api/v1/config", params={**params, "selectTags": team}, json=document
            )
            assert answer.status_code == 200, answer.text
        listed = http.get("/api/v1/consumers", params=params).json()["consumers"]
        assert sorted(c["name"] for c in listed) == ["team-a-app", "team-b-app"]
        tagged = http.get("/api/v1/consumers", params={**params, "tags": "team-b"}).json()
        assert [c["name"] for c in tagged["consumers"]] == ["team-b-app"]
        assert gw.control_plane is not None
        sdk = AI_Gateway(url=gw.control_plane.url, api_key=gw.control_plane.api_key)
        mine = sdk.connect(cluster=gw.cluster).list_consumers(tags=["team-a"])
        assert [c["name"] for c in mine] == ["team-a-app"] and mine[0]["tags"] == ["team-a"]
        providers: dict[str, list[str]] = {"jwtProviders": []}
        refused = http.post(
            "/api/v1/config", params={**params, "selectTags": "team-a"}, json=providers
        )
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "jwtProviders"
