"""Error answers of the proxy, as JSON in the OpenAI error shape.

``{"error": {"message", "type", "code"}}`` is what the openai SDKs parse, so
clients of LLM routes see a readable error instead of a parse failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from data_plane.proxy.exchange import Exchange


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "gateway_error"
    body = orjson.dumps({"error": {"message": message, "type": kind, "code": code}})
    response = web.Response(
        status=status, body=body, content_type="application/json", headers=headers
    )
    if request_id is not None:
        response.headers["X-Request-Id"] = request_id
    return response


def refuse(
    exchange: Exchange,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error answer to the exchange's client, its code kept on the exchange (access log)."""
    exchange.error = code
    return error_response(status, code, message, request_id=exchange.request_id, headers=headers)
