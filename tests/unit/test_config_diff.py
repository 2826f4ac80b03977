"""A diff names the fields that change, not only the thing that holds them."""

from __future__ import annotations

from control_plane.domain.config import GatewayConfig
from control_plane.domain.diff import changed_fields, diff_config
from control_plane.domain.validation import parse


def test_fields_are_named_down_to_the_list_item() -> None:
    before = {"path": "/chat", "targets": [{"url": "http://a", "weight": 1},
                                           {"url": "http://b", "weight": 1}], "rateLimit": "1/s"}  # fmt: skip
    after = {"path": "/chat", "targets": [{"url": "http://a", "weight": 1},
                                          {"url": "http://b", "weight": 3}], "models": ["m"]}  # fmt: skip
    assert changed_fields(before, after) == [
        "targets[1].weight: 1 -> 3",
        "rateLimit: 1/s -> (none)",
        'models: (none) -> ["m"]',
    ]
    assert changed_fields([1, 2], [1, 2, 3], "targets") == ["targets: [1,2] -> [1,2,3]"]
    long = changed_fields({"x": "a" * 500}, {"x": "b"})
    assert len(long[0]) < 120 and long[0].endswith("-> b")


def test_a_settings_change_says_which_setting() -> None:
    current = parse(GatewayConfig, {"settings": {"logLevel": "info"}})
    desired = parse(GatewayConfig, {"settings": {"logLevel": "debug"}})
    (change,) = diff_config(current, desired).to_json()["changes"]
    assert change["key"] == "settings" and change["fields"] == ["logLevel: info -> debug"]


def test_a_credential_that_changes_shows_as_changed_never_in_clear() -> None:
    def config(value: str, env: str) -> GatewayConfig:
        targets = [
            {"url": "http://llm:1", "auth": {"header": "Authorization", "value": value}},
            {"url": "http://llm:2", "auth": {"header": "x-api-key", "value": env}},
        ]
        return parse(
            GatewayConfig, {"routes": [{"name": "chat", "path": "/c", "targets": targets}]}
        )

    (change,) = diff_config(
        config("Bearer old", "${KEY}"), config("Bearer new", "${OTHER}")
    ).changes
    before, after = change.before["targets"], change.after["targets"]
    assert before[0]["auth"]["value"] == "<redacted>"
    assert after[0]["auth"]["value"] == "<redacted: changed>"
    assert after[1]["auth"]["value"] == "${OTHER}"  # a data plane's variable is no secret
    assert "old" not in str(change.to_json()) and "new" not in str(change.to_json())
    assert diff_config(config("Bearer same", "${KEY}"), config("Bearer same", "${KEY}")).empty
