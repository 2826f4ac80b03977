"""Check an answer has the JSON shape a method promises, so callers get real types."""

from __future__ import annotations

from typing import Any

from ai_gateway.errors import GatewayError


def as_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GatewayError(f"expected a JSON object from the gateway, got {type(value).__name__}")
    return value


def as_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise GatewayError(f"expected a JSON list from the gateway, got {type(value).__name__}")
    return value
