"""JSON in and out, with the error shape every client can rely on."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from control_plane.domain.config import check_cluster_name
from control_plane.domain.documents import parse_document
from control_plane.domain.patterns import TAG_RE
from control_plane.errors import InvalidInput

MAX_BODY_BYTES = 4 * 1024 * 1024
INLINE_PARSE_BYTES = 64 * 1024  # below this, parsing costs less than a thread hop


def json_response(body: Any, status: int = 200, revision: int | None = None) -> web.Response:
    headers = {"X-AI-Gateway-Revision": str(revision)} if revision is not None else None
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return json_response({"error": error}, status=status)


async def read_document(request: web.Request) -> Any:
    """The request body as JSON, or YAML when the content type says so; a large one is parsed
    in a thread, so the event loop (other admin calls, the data planes' streams) goes on."""
    raw = await request.read()
    as_yaml = "yaml" in request.content_type
    if len(raw) < INLINE_PARSE_BYTES:
        return parse_document(raw, as_yaml=as_yaml)
    return await asyncio.to_thread(parse_document, raw, as_yaml=as_yaml)


def cluster_param(request: web.Request) -> str | None:
    """``?cluster=NAME``; absent means the control plane's default cluster."""
    name = request.query.get("cluster")
    if name is None:
        return None
    try:
        return check_cluster_name(name)
    except ValueError as exc:
        raise InvalidInput(f"cluster: {exc}", field="cluster") from None


def choice_param(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter that takes one of ``choices``; None when absent."""
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise InvalidInput(f"{name}: {value!r} is not one of {', '.join(choices)}", field=name)
    return value


def flag_param(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise InvalidInput(f"{name}: '{value}' is not a boolean; use true or false", field=name)


def tags_param(request: web.Request, name: str) -> tuple[str, ...]:
    """A comma-separated list of tags (``?tags=ai,mlops``); () when absent."""
    value = request.query.get(name)
    if value is None:
        return ()
    tags = tuple(dict.fromkeys(value.split(",")))  # each once; an empty one is refused
    for tag in tags:
        if not TAG_RE.fullmatch(tag):
            raise InvalidInput(
                f"{name}: tag {tag[:64]!r}: use 1-63 letters, digits, '.', '_', ':' or '-', "
                "comma-separated",
                field=name,
            )
    return tags
