"""REST handlers for consumers, API keys and JWT providers."""

from __future__ import annotations

from aiohttp import web

from control_plane.admin.keys import SERVICE
from control_plane.admin.responses import cluster_param, json_response, read_document, tags_param

routes = web.RouteTableDef()


@routes.get("/api/v1/consumers")
async def list_consumers(request: web.Request) -> web.Response:
    consumers = await request.app[SERVICE].list_consumers(cluster_param(request))
    tags = set(tags_param(request, "tags"))
    shown = [c.to_json() for c in consumers if tags <= set(c.tags)]
    return json_response({"consumers": shown})


@routes.post("/api/v1/consumers")
async def create_consumer(request: web.Request) -> web.Response:
    document = await read_document(request)
    record, revision = await request.app[SERVICE].create_consumer(cluster_param(request), document)
    return json_response(record.to_json(), status=201, revision=revision)


@routes.delete("/api/v1/consumers/{name}")
async def delete_consumer(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    revision = await request.app[SERVICE].delete_consumer(cluster_param(request), name)
    return json_response({"deleted": name, "revision": revision}, revision=revision)


@routes.post("/api/v1/consumers/{name}/keys")
async def create_key(request: web.Request) -> web.Response:
    """The only answer that ever carries the key itself: store it now."""
    document = await read_document(request) if request.can_read_body else {}
    record, plaintext, revision = await request.app[SERVICE].create_key(
        cluster_param(request), request.match_info["name"], document
    )
    response = json_response({**record.to_json(), "key": plaintext}, status=201, revision=revision)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/api/v1/keys")
async def list_keys(request: web.Request) -> web.Response:
    keys = await request.app[SERVICE].list_keys(cluster_param(request))
    return json_response({"keys": [k.to_json() for k in keys]})


@routes.delete("/api/v1/keys/{id}")
async def revoke_key(request: web.Request) -> web.Response:
    key_id = request.match_info["id"]
    revision = await request.app[SERVICE].revoke_key(cluster_param(request), key_id)
    return json_response({"revoked": key_id, "revision": revision}, revision=revision)


@routes.get("/api/v1/jwt-providers")
async def list_jwt_providers(request: web.Request) -> web.Response:
    providers = await request.app[SERVICE].list_jwt_providers(cluster_param(request))
    return json_response({"jwtProviders": [p.redacted() for p in providers]})


@routes.put("/api/v1/jwt-providers/{name}")
async def put_jwt_provider(request: web.Request) -> web.Response:
    document = await read_document(request)
    spec, created, revision = await request.app[SERVICE].put_jwt_provider(
        cluster_param(request), request.match_info["name"], document
    )
    return json_response(spec.redacted(), status=201 if created else 200, revision=revision)


@routes.delete("/api/v1/jwt-providers/{name}")
async def delete_jwt_provider(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    revision = await request.app[SERVICE].delete_jwt_provider(cluster_param(request), name)
    return json_response({"deleted": name, "revision": revision}, revision=revision)
