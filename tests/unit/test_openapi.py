"""Every route the REST app serves is in its OpenAPI document, and nothing else is."""

from __future__ import annotations

from typing import Any, cast

from control_plane.admin.app import build_admin_app
from control_plane.admin.openapi import openapi_document
from control_plane.admin_service import AdminService


def test_openapi_lists_exactly_the_served_routes() -> None:
    app = build_admin_app(cast(AdminService, None), "k")
    served: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info: dict[str, Any] = dict(route.resource.get_info()) if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        path = path.replace("{endpoint:.+}", "{endpoint}")
        if route.method != "HEAD":
            served.add((route.method.lower(), path))
    documented = {
        (method, path) for path, ops in openapi_document()["paths"].items() for method in ops
    }
    assert served == documented
