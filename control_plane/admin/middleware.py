"""Authentication and error translation, applied to every admin request."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import SQLAlchemyError

from control_plane.admin.keys import API_KEY, AUTH_THROTTLE, CLIENT_ADDRESS
from control_plane.admin.responses import error_response, json_response
from control_plane.errors import ControlPlaneError
from control_plane.metrics import AUTH_THROTTLED_TOTAL, STORE_ERRORS
from control_plane.store.revision_history import ChangeAuthor, authored_by, credential_name
from data_plane.security.auth_throttle import AUTH_THROTTLED

log = logging.getLogger("ai_gateway.control_plane.admin")

PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/health", "/metrics"})


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
        log.debug("%s %s: %d", request.method, request.path, response.status)
        return response
    except ControlPlaneError as exc:
        return json_response(exc.to_body(), status=exc.http_status)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "body: the request body is over 4 MiB", "body")
    except web.HTTPException as exc:
        if exc.status >= 400:
            answer = error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            if "Allow" in exc.headers:  # 405: which methods the path takes (RFC 9110)
                answer.headers["Allow"] = exc.headers["Allow"]
            return answer
        raise
    except SQLAlchemyError:
        STORE_ERRORS.labels("admin").inc()
        log.exception("admin request %s %s failed in the store", request.method, request.path)
        return error_response(503, "store_unavailable", "the config store failed; try again")
    except Exception:
        log.exception("admin request %s %s failed", request.method, request.path)
        return error_response(500, "internal", "internal error; see the control-plane log")


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The admin key, compared in constant time; an address that keeps sending wrong keys
    gets 429 before its next key is even looked at."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    throttle = request.app[AUTH_THROTTLE]
    peer = request.transport.get_extra_info("peername") if request.transport else None
    client = request.app[CLIENT_ADDRESS].resolve(
        peer[0] if peer else "", request.headers.get("X-Forwarded-For")
    )
    wait = throttle.retry_after(client)
    if wait is not None:
        AUTH_THROTTLED_TOTAL.inc()
        response = error_response(
            429,
            AUTH_THROTTLED,
            f"too many wrong admin API keys from {client}; retry after {wait}s",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    token = bearer_token(request.headers.get("Authorization"))
    expected = request.app[API_KEY]
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        if token is not None:
            throttle.failed(client)  # a guess; a missing key is no guess
        reason = "missing" if token is None else "wrong"
        return error_response(
            401,
            "unauthenticated",
            f"{reason} admin API key: send 'Authorization: Bearer $AI_GATEWAY_API_KEY'",
        )
    with authored_by(ChangeAuthor(credential_name(expected), client)):
        return await handler(request)
