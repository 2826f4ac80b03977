"""Error answers of the proxy, as JSON in the OpenAI error shape.

``{"error": {"message", "type", "code"}}`` is what the openai SDKs parse, so
clients of LLM routes see a readable error instead of a parse failure.
"""

from __future__ import annotations

import orjson
from aiohttp import web


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
    response["error_code"] = code  # for the access log
    return response
