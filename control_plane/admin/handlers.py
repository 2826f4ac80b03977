"""REST handlers: thin translations between HTTP and AdminService."""

from __future__ import annotations

import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from control_plane.admin.keys import SERVICE
from control_plane.admin.responses import (
    choice_param,
    cluster_param,
    flag_param,
    json_response,
    read_document,
    tags_param,
)
from control_plane.collector_pause import APPLY_PAUSE
from control_plane.domain.config import GatewayConfig, exported_document
from control_plane.domain.tagged_documents import tagged_part
from control_plane.errors import InvalidInput
from control_plane.store.records import SecurityRecord

routes = web.RouteTableDef()


@routes.get("/healthz")
@routes.get("/api/v1/health")
async def health(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


# -- clusters ----------------------------------------------------------------


@routes.get("/api/v1/clusters")
async def list_clusters(request: web.Request) -> web.Response:
    clusters = await request.app[SERVICE].list_clusters()
    return json_response({"clusters": clusters})


@routes.post("/api/v1/clusters")
async def create_cluster(request: web.Request) -> web.Response:
    document = await read_document(request)
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise InvalidInput('name: give the cluster\'s name, like {"name": "aimlops"}', field="name")
    record, created = await request.app[SERVICE].ensure_cluster(document["name"])
    return json_response({**record.to_json(), "created": created}, status=201 if created else 200)


# -- routes ------------------------------------------------------------------


@routes.get("/api/v1/routes")
async def list_routes(request: web.Request) -> web.Response:
    tags = tags_param(request, "tags")
    answer = await request.app[SERVICE].routes_served(cluster_param(request))
    if tags:  # those carrying every one of them (a route made from pods has none)
        answer["routes"] = [r for r in answer["routes"] if set(tags) <= set(r.get("tags", ()))]
    return json_response(answer)


@routes.post("/api/v1/routes")
async def create_route(request: web.Request) -> web.Response:
    document = await read_document(request)
    replace = request.query.get("replace", "false")
    if replace not in ("true", "false"):
        raise InvalidInput(f"replace: '{replace[:32]}' is not true or false", field="replace")
    record, revision, outcome = await request.app[SERVICE].create_route(
        cluster_param(request), document, replace == "true"
    )
    if outcome == "created":
        return json_response(record.to_json(), status=201, revision=revision)
    return json_response({**record.to_json(), outcome: True}, revision=revision)


@routes.get("/api/v1/routes/{id}")
async def get_route(request: web.Request) -> web.Response:
    service, route = request.app[SERVICE], request.match_info["id"]
    return json_response(await service.route_served(cluster_param(request), route))


@routes.put("/api/v1/routes/{id}")
async def update_route(request: web.Request) -> web.Response:
    document = await read_document(request)
    record, revision = await request.app[SERVICE].update_route(
        cluster_param(request), request.match_info["id"], document
    )
    return json_response(record.to_json(), revision=revision)


@routes.delete("/api/v1/routes/{id}")
async def delete_route(request: web.Request) -> web.Response:
    revision = await request.app[SERVICE].delete_route(
        cluster_param(request), request.match_info["id"]
    )
    return json_response(
        {"deleted": request.match_info["id"], "revision": revision}, revision=revision
    )


# -- security ----------------------------------------------------------------


def _endpoint(request: web.Request) -> str:
    """'/api/v1/security/predict' and '.../%2Fpredict' name /predict: the URL is decoded once,
    as for any other path, and what it then says is taken as written (no second decoding)."""
    return request.match_info["endpoint"]


@routes.get("/api/v1/security")
async def list_security(request: web.Request) -> web.Response:
    tags = set(tags_param(request, "tags"))
    records = await request.app[SERVICE].list_security(cluster_param(request))
    return json_response({"security": [r.to_json() for r in records if tags <= set(r.spec.tags)]})


@routes.get("/api/v1/security/{endpoint:.+}")
async def get_security(request: web.Request) -> web.Response:
    record = await request.app[SERVICE].get_security(cluster_param(request), _endpoint(request))
    return json_response(record.to_json())


@routes.put("/api/v1/security/{endpoint:.+}")
async def put_security(request: web.Request) -> web.Response:
    document = await read_document(request)
    service, cluster = request.app[SERVICE], cluster_param(request)
    stored = await service.put_security(cluster, _endpoint(request), document)
    return await _policy_answer(request, cluster, stored)


@routes.patch("/api/v1/security/{endpoint:.+}")
async def patch_security(request: web.Request) -> web.Response:
    """Only the fields the body names change; ``null`` removes one (JSON merge patch)."""
    changes = await read_document(request)
    service, cluster = request.app[SERVICE], cluster_param(request)
    stored = await service.patch_security(cluster, _endpoint(request), changes)
    return await _policy_answer(request, cluster, stored)


async def _policy_answer(
    request: web.Request, cluster: str | None, stored: tuple[SecurityRecord, bool, int]
) -> web.Response:
    """The stored policy, 201 when it is new, with what will go wrong with it."""
    record, created, revision = stored
    warnings = await request.app[SERVICE].policy_warnings(cluster, record)
    answer = {**record.to_json(), "warnings": warnings}
    return json_response(answer, status=201 if created else 200, revision=revision)


@routes.delete("/api/v1/security/{endpoint:.+}")
async def delete_security(request: web.Request) -> web.Response:
    endpoint = _endpoint(request)
    revision = await request.app[SERVICE].delete_security(cluster_param(request), endpoint)
    return json_response({"deleted": endpoint, "revision": revision}, revision=revision)


# -- the whole document --------------------------------------------------------


@routes.get("/api/v1/config")
async def export_config(request: web.Request) -> web.Response:
    config = await request.app[SERVICE].export(cluster_param(request))
    select = tags_param(request, "selectTags")
    if select:  # only what a document applied with these tags manages
        config = GatewayConfig.model_validate(tagged_part(config, select))
    document = exported_document(config)
    if choice_param(request, "format", ("json", "yaml")) == "yaml":
        text = yaml.safe_dump(document, sort_keys=False)
        return web.Response(text=text, content_type="application/yaml")
    return json_response(document)


@routes.post("/api/v1/config")
async def apply_config(request: web.Request) -> web.Response:
    """Apply a whole document (``?dryRun=true``: only answer the difference)."""
    dry_run = flag_param(request, "dryRun")
    select = tags_param(request, "selectTags")
    with APPLY_PAUSE.held():  # a whole document: collector_pause says why
        document = await read_document(request)
        diff, revision, warnings = await request.app[SERVICE].apply(
            cluster_param(request), document, dry_run=dry_run, select_tags=select
        )
        body = {
            **diff.to_json(),
            "revision": revision,
            "dryRun": dry_run,
            "applied": not dry_run and not diff.empty,
            "warnings": warnings,
        }
        return json_response(body, revision=revision)


@routes.get("/api/v1/settings")
async def get_settings(request: web.Request) -> web.Response:
    config = await request.app[SERVICE].export(cluster_param(request))
    return json_response(config.settings.model_dump(mode="json"))


@routes.patch("/api/v1/settings")
@routes.put("/api/v1/settings")
async def update_settings(request: web.Request) -> web.Response:
    document = await read_document(request)
    settings, revision = await request.app[SERVICE].update_settings(
        cluster_param(request), document
    )
    return json_response(settings, revision=revision)


@routes.get("/api/v1/dataplanes")
async def list_dataplanes(request: web.Request) -> web.Response:
    views = await request.app[SERVICE].dataplane_views(cluster_param(request))
    return json_response({"dataplanes": views})


# -- metrics -----------------------------------------------------------------


@routes.get("/api/v1/metrics")
async def fleet_metrics(request: web.Request) -> web.Response:
    query = request.query
    answer = await request.app[SERVICE].metrics(
        cluster_param(request),
        kind=query.get("type"),
        endpoint=query.get("endpoint"),
        window=query.get("window", "5m"),
    )
    return json_response(answer)


@routes.get("/api/v1/usage")
async def usage(request: web.Request) -> web.Response:
    query = request.query
    answer = await request.app[SERVICE].usage(
        cluster_param(request),
        consumer=query.get("consumer"),
        model=query.get("model"),
        window=query.get("window", "1h"),
    )
    return json_response(answer)


@routes.get("/api/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    text = request.query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise InvalidInput(f"limit: '{text}' is not a number from 1 to 1000", field="limit")
    records = await request.app[SERVICE].webhooks(cluster_param(request), int(text))
    return json_response({"webhooks": [r.to_json() for r in records]})


@routes.get("/metrics")
async def prometheus_metrics(_request: web.Request) -> web.Response:
    """The control plane's own metrics, in Prometheus's text format."""
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
