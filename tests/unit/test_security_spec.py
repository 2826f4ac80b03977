"""Security policies: the REST, YAML and CLI spellings mean the same policy."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.domain.security import SecuritySpec, normalise_endpoint
from control_plane.domain.validation import parse
from control_plane.errors import InvalidInput


@pytest.mark.parametrize(
    "document",
    [
        {"endpoint": "/predict", "authType": "jwt", "rateLimit": 100},
        {"endpoint": "predict", "auth": "jwt", "rateLimit": "100/min"},
        {"endpoint": "/predict/", "auth": "JWT", "rate_limit": "100 / minute"},
        {
            "endpoint": "/predict",
            "auth": "jwt",
            "rateLimit": {"requests": 100, "periodSeconds": 60},
        },
    ],
)
def test_spellings_are_one_policy(document: dict[str, Any]) -> None:
    spec = parse(SecuritySpec, document)
    assert spec.model_dump(mode="json") == {
        "endpoint": "/predict",
        "auth": "jwt",
        "rateLimit": "100/min",
        "tokenLimit": None,
        "budget": None,
        "defaultMaxTokens": None,
        "onExceeded": "reject",
        "jwtProviders": [],
        "tags": [],
    }


@pytest.mark.parametrize(
    ("text", "requests", "period"),
    [
        ("50/min", 50, 60.0),
        ("10/s", 10, 1.0),
        ("1000/hour", 1000, 3600.0),
        ("5/day", 5, 86400.0),
        ("100/mins", 100, 60.0),
        ("5 / hours", 5, 3600.0),
        ("7", 7, 60.0),
    ],
)
def test_rate_units(text: str, requests: int, period: float) -> None:
    spec = parse(SecuritySpec, {"endpoint": "/chat", "auth": "api-key", "rateLimit": text})
    assert spec.rate_limit is not None
    assert (spec.rate_limit.requests, spec.rate_limit.period_seconds) == (requests, period)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"auth": "oauth"}, "auth"),
        ({"rateLimit": "100/fortnight"}, "rateLimit"),
        ({"rateLimit": 0}, "rateLimit.requests"),
        ({"rateLimit": True}, "rateLimit"),
        ({"rateLimit": "1/" + "a" * 5000 + "!"}, "rateLimit"),  # once a backtracking case
        ({"rateLimit": "9" * 40}, "rateLimit"),
        ({"endpoint": "/" + "a" * 20_000}, "endpoint"),
        ({"endpoint": "/a b"}, "endpoint"),
    ],
)
def test_bad_policy_names_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(SecuritySpec, {"endpoint": "/predict", **fields})
    assert caught.value.field == field


def test_api_key_spellings() -> None:
    for spelling in ("api-key", "api_key", "apikey", "API-KEY"):
        assert parse(SecuritySpec, {"endpoint": "/x", "auth": spelling}).auth == "api-key"


def test_endpoint_normalisation() -> None:
    assert normalise_endpoint("chat") == "/chat"
    assert normalise_endpoint("/") == "/"
