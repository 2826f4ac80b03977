"""REST handlers for the history of a cluster's document: list, show, compare, roll back."""

from __future__ import annotations

import re

from aiohttp import web

from control_plane.admin.keys import SERVICE
from control_plane.admin.responses import cluster_param, flag_param, json_response
from control_plane.collector_pause import APPLY_PAUSE
from control_plane.errors import InvalidInput

routes = web.RouteTableDef()
REVISION = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() takes '²' too


def _revision(text: str, name: str) -> int:
    if not REVISION.fullmatch(text):
        raise InvalidInput(
            f"{name}: '{text[:40]}' is not a revision number; list them with GET /api/v1/revisions",
            field=name,
        )
    return int(text)


@routes.get("/api/v1/revisions")
async def list_revisions(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    entries = await service.history(cluster_param(request))
    return json_response(
        {"revisions": [e.to_json() for e in entries], "kept": service.store.history_keep}
    )


@routes.get("/api/v1/revisions/{revision}")
async def get_revision(request: web.Request) -> web.Response:
    revision = _revision(request.match_info["revision"], "revision")
    return json_response(await request.app[SERVICE].revision(cluster_param(request), revision))


@routes.get("/api/v1/revisions/{revision}/diff")
async def revision_diff(request: web.Request) -> web.Response:
    """From the revision to ``?to=M``, or to what the cluster holds now."""
    revision = _revision(request.match_info["revision"], "revision")
    to = request.query.get("to")
    diff = await request.app[SERVICE].revision_diff(
        cluster_param(request), revision, None if to is None else _revision(to, "to")
    )
    return json_response({**diff.to_json(), "from": revision, "to": to and int(to)})


@routes.post("/api/v1/revisions/{revision}/rollback")
async def rollback(request: web.Request) -> web.Response:
    """A new revision whose document is the revision's (``?dryRun=true``: the difference)."""
    revision = _revision(request.match_info["revision"], "revision")
    dry_run = flag_param(request, "dryRun")
    with APPLY_PAUSE.held():  # a whole document: collector_pause says why
        diff, new_revision, warnings = await request.app[SERVICE].rollback(
            cluster_param(request), revision, dry_run=dry_run
        )
        body = {
            **diff.to_json(),
            "revision": new_revision,
            "rolledBackTo": revision,
            "dryRun": dry_run,
            "applied": not dry_run and not diff.empty,
            "warnings": warnings,
        }
        return json_response(body, revision=new_revision)
