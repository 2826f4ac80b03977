"""Errors the control plane raises, translated to HTTP/gRPC only at the edges.

ControlPlaneError
├── InvalidInput        400 (unreadable request) / 422 (a field is wrong); names it and the fix
├── Unauthenticated     401: missing or wrong admin key
├── NotFound            404
├── Conflict            409: the name or endpoint is taken
├── StoredRowInvalid    409: a stored row no longer reads (another release wrote it); names it
└── SchemaMismatch      the database was written by a newer release
"""

from __future__ import annotations

from typing import Any


class ControlPlaneError(Exception):
    """Root of every error the control plane reports to a user."""

    code = "internal"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class InvalidInput(ControlPlaneError):
    code = "invalid"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, str]] | None = None,
        unprocessable: bool = False,
    ) -> None:
        super().__init__(message, field=field)
        self.details = details or []
        if unprocessable:  # well-formed, but a value breaks a rule
            self.http_status = 422

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        if len(self.details) > 1:
            body["error"]["details"] = self.details
        return body


class Unauthenticated(ControlPlaneError):
    http_status = 401
    code = "unauthenticated"


class NotFound(ControlPlaneError):
    http_status = 404
    code = "not_found"


class Conflict(ControlPlaneError):
    http_status = 409
    code = "conflict"


class StoredRowInvalid(ControlPlaneError):
    """A row in the database does not read as this release's config (an older release
    accepted it). The message names the row and how to replace or delete it."""

    http_status = 409
    code = "stored_row_invalid"


class SchemaMismatch(ControlPlaneError):
    code = "schema_mismatch"
