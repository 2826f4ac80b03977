"""The declarative document and its diff."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from control_plane.domain.config import GatewayConfig
from control_plane.domain.diff import diff_config
from control_plane.domain.validation import parse
from control_plane.errors import InvalidInput

SEED_YAML = """
routes:
  - path: /predict
    target: http://ai-service:8080
    methods: [POST]
security:
  - endpoint: /predict
    auth: jwt
    rateLimit: 100
callback: http://external-service/webhook
"""


def config(document: dict[str, Any]) -> GatewayConfig:
    return parse(GatewayConfig, document)


def test_seed_yaml_parses() -> None:
    doc = config(yaml.safe_load(SEED_YAML))
    assert doc.routes[0].methods == ("POST",)
    assert doc.security[0].rate_limit is not None and doc.security[0].rate_limit.requests == 100
    assert doc.callback == "http://external-service/webhook"


def test_same_document_has_no_diff() -> None:
    doc = config(yaml.safe_load(SEED_YAML))
    assert diff_config(doc, config(yaml.safe_load(SEED_YAML))).empty


def test_diff_reports_create_update_delete() -> None:
    before = config(yaml.safe_load(SEED_YAML))
    after = config(
        {
            "routes": [
                {"path": "/predict", "target": "http://ai-service:9090", "methods": ["POST"]},
                {"path": "/chat", "target": "http://llm-service:5000"},
            ],
            "callback": "http://external-service/webhook",
        }
    )
    changes = {(c.kind, c.key, c.action) for c in diff_config(before, after).changes}
    assert changes == {
        ("route", "predict", "update"),
        ("route", "chat", "create"),
        ("security", "/predict", "delete"),
    }


def test_reordering_routes_is_a_change() -> None:
    a = {"path": "/a", "target": "http://a"}
    b = {"path": "/b", "target": "http://b"}
    assert not diff_config(config({"routes": [a, b]}), config({"routes": [b, a]})).empty


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        (
            {
                "routes": [
                    {"path": "/a", "target": "http://a"},
                    {"path": "/a", "target": "http://b"},
                ]
            },
            "routes",
            "unique name",
        ),
        ({"security": [{"endpoint": "/a"}, {"endpoint": "a"}]}, "security", "merge them"),
        (
            {"routes": [{"path": "/a", "target": "http://a"}, {"path": "/b", "target": "htp://x"}]},
            "routes[1].targets[0].url",
            "http(s)",
        ),
        ({"callback": "ftp://x"}, "callback", "http(s)"),
        ({"cluster": "Not Valid"}, "cluster", "cluster name"),
        ({"settings": {"logLevel": "loud"}}, "settings.logLevel", "debug"),
    ],
)
def test_bad_documents_name_the_field(document: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        config(document)
    assert caught.value.field == field
    assert words in caught.value.message


def test_empty_sections_are_allowed() -> None:
    assert config(yaml.safe_load("routes:\nsecurity:\n")).routes == ()
