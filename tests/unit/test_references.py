"""``${env:NAME}`` and ``${file:PATH}`` in a document's secrets, resolved where apply runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ai_gateway.references import MAX_FILE_BYTES, resolve_references


def test_the_secrets_are_resolved_and_nothing_else_is_touched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEAM_A_KEY", "k" * 40)
    (tmp_path / "jwt").write_text("s" * 48 + "\n")
    auth = {"header": "Authorization", "value": "Bearer ${env:TEAM_A_KEY}"}
    document: dict[str, Any] = {
        "routes": [
            {"path": "/chat", "targets": [{"url": "http://a:1", "auth": auth}],
             "fallbacks": [{"target": {"url": "http://b:1", "auth": {**auth}}}]},
            {"path": "/dp", "targets": [{"url": "http://c:1", "auth": {"value": "${DP_ONLY}"}}]},
        ],
        "jwtProviders": [{"name": "corp", "secret": f"${{file:{tmp_path / 'jwt'}}}"}],
        "consumers": [{"name": "team-a", "keys": [{"key": "${env:TEAM_A_KEY}"}]}],
    }  # fmt: skip
    resolved = resolve_references(document)
    assert resolved["routes"][0]["targets"][0]["auth"]["value"] == "Bearer " + "k" * 40
    assert resolved["routes"][0]["fallbacks"][0]["target"]["auth"]["value"] == "Bearer " + "k" * 40
    assert resolved["routes"][1]["targets"][0]["auth"]["value"] == "${DP_ONLY}"  # the data plane's
    assert resolved["jwtProviders"][0]["secret"] == "s" * 48  # without the final newline
    assert resolved["consumers"][0]["keys"][0]["key"] == "k" * 40
    assert document["consumers"][0]["keys"][0]["key"] == "${env:TEAM_A_KEY}"  # not changed


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"callback": "http://evil/?k=${env:HOME}"}, "callback"),
        ({"routes": [{"path": "/${env:HOME}"}]}, "routes[0].path"),
        ({"routes": [{"headers": {"x": "${file:/etc/passwd}"}}]}, "routes[0].headers.x"),
        ({"consumers": [{"name": "a", "tags": ["${env:HOME}"]}]}, "consumers[0].tags[0]"),
        ({"settings": {"logLevel": "${env:HOME}"}}, "settings.logLevel"),
    ],
)
def test_a_reference_outside_a_secret_is_refused(document: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError) as refused:
        resolve_references(document)
    assert str(refused.value).startswith(f"{field}: references")


def test_what_cannot_be_read_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    key = {"consumers": [{"name": "a", "keys": [{"key": "${env:NOT_SET_ANYWHERE}"}]}]}
    with pytest.raises(
        ValueError, match=r"consumers\[0\]\.keys\[0\]\.key: \$\{env:NOT_SET_ANYWHERE\} is not set"
    ):
        resolve_references(key)
    big = tmp_path / "big"
    big.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    for path, says in ((tmp_path / "missing", "cannot be read"), (big, "over 64 KiB")):
        secret = {"jwtProviders": [{"secret": f"${{file:{path}}}"}]}
        with pytest.raises(ValueError, match=says):
            resolve_references(secret)
