"""Route validation: what users write is accepted in every documented form, and nonsense is named."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.domain.route import RouteSpec, name_from_path
from control_plane.domain.validation import parse
from control_plane.errors import InvalidInput


def route(**fields: Any) -> dict[str, Any]:
    return {"path": "/predict", "target": "http://ai-service:8080", **fields}


def test_seed_body_parses_with_short_forms() -> None:
    spec = parse(RouteSpec, route(method="POST"))
    assert spec.methods == ("POST",)
    assert [t.url for t in spec.targets] == ["http://ai-service:8080"]
    assert spec.match == "prefix"
    assert spec.effective_name == "predict"


def test_yaml_form_with_methods_list_parses() -> None:
    spec = parse(
        RouteSpec, {"path": "/predict", "target": "http://ai-service:8080", "methods": ["post"]}
    )
    assert spec.methods == ("POST",)


def test_weighted_targets_and_header_map() -> None:
    spec = parse(
        RouteSpec,
        {
            "path": "/v1/chat/completions",
            "targets": ["http://a:1", {"url": "http://b:2", "weight": 3, "priority": 1}],
            "headers": {"X-Model": "llama"},
        },
    )
    assert [(t.url, t.weight, t.priority) for t in spec.targets] == [
        ("http://a:1", 1, 0),
        ("http://b:2", 3, 1),
    ]
    assert spec.headers[0].name == "x-model" and spec.headers[0].kind == "exact"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"path": "predict"}, "path", "Invalid route path"),
        ({"path": "/a/../b"}, "path", "canonical"),
        ({"path": "/a//b"}, "path", "canonical"),
        ({"path": "/a%2Fb"}, "path", "canonical"),
        ({"path": "(", "match": "regex"}, "path", "not a usable regex"),
        ({"path": "^/(a)\\1$", "match": "regex"}, "path", "no backreferences or lookaround"),
        ({"path": "^/(?=x)", "match": "regex"}, "path", "no backreferences or lookaround"),
        ({"path": "/" + "x" * 1100, "match": "regex"}, "path", "over 1024 characters"),
        (
            {"headers": [{"name": "x-a", "regex": "(a)\\1"}]},
            "headers[0].regex",
            "no backreferences or lookaround",
        ),
        ({"target": "htp://x"}, "targets[0].url", "not an http(s) URL"),
        ({"target": "http://user:pw@x"}, "targets[0].url", "credentials"),
        ({"target": "http://x:99999"}, "targets[0].url", "not a valid URL"),
        ({"method": "FETCH"}, "methods", "not an HTTP method"),
        ({"match": "glob"}, "match", "'prefix', 'exact' or 'regex'"),
        ({"name": "Bad Name"}, "name", "not a valid name"),
        ({"headers": [{"name": "x", "value": "1", "regex": "1"}]}, "headers[0]", "exactly one"),
        ({"headers": [{"name": "bad header"}]}, "headers[0].name", "not a valid header name"),
        ({"hosts": ["exa mple.com"]}, "hosts", "not a host name"),
        ({"colour": "blue"}, "colour", "not a known field"),
        ({"targets": []}, "body", "either target or targets"),
    ],
)
def test_bad_route_names_the_field(fields: dict[str, Any], field: str, words: str) -> None:
    document = route(**fields)
    if fields.get("targets") == []:
        document = {"path": "/x", "target": "http://a", "targets": []}
    with pytest.raises(InvalidInput) as caught:
        parse(RouteSpec, document)
    assert caught.value.field == field
    assert words in caught.value.message


def test_missing_target_is_required() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(RouteSpec, {"path": "/x"})
    assert caught.value.field == "targets"
    assert "required" in caught.value.message


def test_not_an_object() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(RouteSpec, ["/x"])
    assert caught.value.field == "body"


@pytest.mark.parametrize(
    ("path", "name"),
    [("/predict", "predict"), ("/v1/chat/completions", "v1-chat-completions"), ("/", "root")],
)
def test_default_names(path: str, name: str) -> None:
    assert name_from_path(path) == name


def test_target_url_is_normalised_without_trailing_slash() -> None:
    spec = parse(RouteSpec, route(target="http://ai-service:8080/"))
    assert spec.targets[0].url == "http://ai-service:8080"
    spec = parse(RouteSpec, route(target="https://api.example.com/v1/"))
    assert spec.targets[0].url == "https://api.example.com/v1"
