"""Errors the SDK raises, one class per kind of answer.

GatewayError                 any failed call; .status, .code, .message, .field
├── InvalidInputError        400/422: .field names what to fix
├── AuthenticationError      401: the API key is missing or wrong
├── NotFoundError            404
├── ConflictError            409: the name or endpoint is taken
├── RateLimitError           429: .retry_after seconds
├── ServerError              5xx
└── GatewayConnectionError   no answer at all (refused, reset, timed out)
"""

from __future__ import annotations

from typing import Any

AUTH_THROTTLED = "too_many_auth_failures"  # 429: too many wrong keys from this address


class GatewayError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "error",
        field: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.body = body


class InvalidInputError(GatewayError):
    pass


class AuthenticationError(GatewayError):
    pass


class NotFoundError(GatewayError):
    pass


class ConflictError(GatewayError):
    pass


class RateLimitError(GatewayError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(GatewayError):
    pass


class GatewayConnectionError(GatewayError):
    pass


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidInputError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidInputError,
}


def error_for(status: int, body: Any, retry_after: float | None) -> GatewayError:
    """Build the typed error for an HTTP answer in the ``{"error": {...}}`` shape."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message", "")) or f"HTTP {status}"
        code = str(error.get("code", "error"))
        field = error.get("field")
    else:
        message, code, field = f"HTTP {status}", "error", None
    kwargs: dict[str, Any] = {"status": status, "code": code, "field": field, "body": body}
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return _BY_STATUS.get(status, GatewayError)(message, **kwargs)
