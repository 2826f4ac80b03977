"""Turn pydantic's errors into messages that name the field and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from control_plane.errors import InvalidInput, StoredRowInvalid

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """('routes', 2, 'target') -> 'routes[2].target'."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("function-") or part in {"str", "int", "dict"}:
            continue  # pydantic's union/validator tags say nothing to a user
        else:
            path += f".{part}" if path else part
    return path


def _message(error: Any) -> str:
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if error["type"] == "extra_forbidden":
        return "is not a known field; check the spelling against the config schema"
    if error["type"] == "missing":
        return "is required"
    return msg


def as_invalid_input(exc: ValidationError, prefix: str = "") -> InvalidInput:
    details = [
        {"field": field_path(e["loc"], prefix) or "body", "message": _message(e)}
        for e in exc.errors()
    ]
    # A list whose item failed is also reported as too short; the item is the news.
    fields = [d["field"] for d in details]
    details = [
        d
        for d in details
        if not (
            d["message"].startswith("Tuple should have at least")
            and any(f.startswith(d["field"] + "[") for f in fields)
        )
    ] or details
    first = details[0]
    return InvalidInput(
        f"{first['field']}: {first['message']}",
        field=first["field"],
        details=details,
        unprocessable=True,
    )


def parse(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    """Validate ``data`` as ``model`` or raise InvalidInput naming the field."""
    if not isinstance(data, dict):
        where = prefix or "body"
        raise InvalidInput(f"{where}: expected a JSON/YAML object", field=where)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise as_invalid_input(exc, prefix) from None


def read_stored(model: type[ModelT], data: Any, what: str, fix: str) -> ModelT:
    """A stored row as ``model``; StoredRowInvalid naming the row and ``fix`` when this release
    cannot read what an older one stored (a regex it no longer takes, say)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reason = as_invalid_input(exc).message
        raise StoredRowInvalid(f"{what} as stored cannot be used: {reason}; {fix}") from None
