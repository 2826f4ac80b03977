"""The REST admin API of a real control-plane process, as curl, requests or the SDK see it."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests

from tests.support.control_plane import ControlPlaneProcess


def state(http: httpx.Client, cluster: str) -> tuple[int, Any]:
    """The cluster's revision and full exported document: what must not change on bad input."""
    revisions = {c["name"]: c["revision"] for c in http.get("/api/v1/clusters").json()["clusters"]}
    return revisions[cluster], http.get("/api/v1/config", params={"cluster": cluster}).json()


def test_seed_python_snippet_creates_a_route(control_plane: ControlPlaneProcess) -> None:
    os.environ["AI_GATEWAY_API_KEY"] = control_plane.api_key
    try:
        # The product's snippet, with gateway = the control plane's address.
        headers = {"Authorization": f"Bearer {os.environ.get('AI_GATEWAY_API_KEY')}"}
        response = requests.post(
            f"{control_plane.url}/api/v1/routes",
            json={"path": "/predict", "target": "http://ai-service:8080"},
            headers=headers,
            timeout=10,
        )
    finally:
        del os.environ["AI_GATEWAY_API_KEY"]
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["path"] == "/predict" and body["targets"][0]["url"] == "http://ai-service:8080"
    assert body["cluster"] == "default"
    assert int(response.headers["X-AI-Gateway-Revision"]) >= 1


def test_seed_route_body_with_method(control_plane: ControlPlaneProcess, cluster: str) -> None:
    with control_plane.client() as http:
        created = http.post(
            "/api/v1/routes",
            params={"cluster": cluster},
            json={"path": "/predict", "target": "http://ai-service:8080", "method": "POST"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["methods"] == ["POST"]
        listed = http.get("/api/v1/routes", params={"cluster": cluster}).json()["routes"]
        assert [(r["name"], r["path"], r["methods"]) for r in listed] == [
            ("predict", "/predict", ["POST"])
        ]


@pytest.mark.parametrize("spelling", ["predict", "%2Fpredict", "/predict"])
def test_seed_security_put_any_endpoint_spelling(
    control_plane: ControlPlaneProcess, cluster: str, spelling: str
) -> None:
    with control_plane.client() as http:
        url = f"/api/v1/security/{spelling}".replace("//", "/")
        if spelling == "/predict":
            url = "/api/v1/security/" + quote("/predict", safe="")
        response = http.put(
            url, params={"cluster": cluster}, json={"authType": "jwt", "rateLimit": 100}
        )
        assert response.status_code == 201, response.text
        assert response.json()["endpoint"] == "/predict"
        again = http.put(
            url, params={"cluster": cluster}, json={"authType": "jwt", "rateLimit": 100}
        )
        assert again.status_code == 200, "a second PUT replaces, it does not create"
        policies = http.get("/api/v1/security", params={"cluster": cluster}).json()["security"]
        assert [(p["endpoint"], p["auth"], p["rateLimit"]) for p in policies] == [
            ("/predict", "jwt", "100/min")
        ]


def test_route_crud_round_trip(control_plane: ControlPlaneProcess, cluster: str) -> None:
    params = {"cluster": cluster}
    with control_plane.client() as http:
        created = http.post(
            "/api/v1/routes",
            params=params,
            json={
                "name": "chat",
                "path": "/v1/chat/completions",
                "match": "exact",
                "methods": ["POST"],
                "headers": [{"name": "X-Model", "regex": "^llama"}],
                "targets": [{"url": "http://llm-a:5000", "weight": 3}, "http://llm-b:5000"],
            },
        ).json()
        by_id = http.get(f"/api/v1/routes/{created['id']}", params=params).json()
        by_name = http.get("/api/v1/routes/chat", params=params).json()
        assert by_id == by_name == created
        assert [(t["url"], t["weight"]) for t in by_id["targets"]] == [
            ("http://llm-a:5000", 3),
            ("http://llm-b:5000", 1),
        ]

        replaced = http.put(
            "/api/v1/routes/chat",
            params=params,
            json={"path": "/chat", "target": "http://llm:5000"},
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["id"] == created["id"] and replaced.json()["path"] == "/chat"
        assert replaced.json()["name"] == "chat", "a PUT without a name keeps the name"

        deleted = http.delete(f"/api/v1/routes/{created['id']}", params=params)
        assert deleted.status_code == 200
        missing = http.get(f"/api/v1/routes/{created['id']}", params=params)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"


BAD_REQUESTS: list[tuple[str, str, str, Any, int, str | None]] = [
    # method, path, content type, body, status, field
    ("POST", "/api/v1/routes", "json", {"path": "predict", "target": "http://a"}, 422, "path"),
    ("POST", "/api/v1/routes", "json", {"path": "/p", "target": "htp://x"}, 422, "targets[0].url"),
    ("POST", "/api/v1/routes", "json", {"path": "/p"}, 422, "targets"),
    (
        "POST",
        "/api/v1/routes",
        "json",
        {"path": "/p", "target": "http://a", "methods": ["FETCH"]},
        422,
        "methods",
    ),
    (
        "POST",
        "/api/v1/routes",
        "json",
        {"path": "/p", "target": "http://a", "weight": 2},
        422,
        "weight",
    ),
    ("POST", "/api/v1/routes", "json", ["/p"], 400, "body"),
    ("POST", "/api/v1/routes", "raw", b"{not json", 400, "body"),
    ("POST", "/api/v1/routes", "raw", b"", 400, "body"),
    ("POST", "/api/v1/routes", "json", {"path": "/existing", "target": "http://b"}, 409, "name"),
    (
        "POST",
        "/api/v1/routes?replace=maybe",
        "json",
        {"path": "/p", "target": "http://a"},
        400,
        "replace",
    ),
    (
        "PUT",
        "/api/v1/routes/existing",
        "json",
        {"path": "/x", "target": "ftp://a"},
        422,
        "targets[0].url",
    ),
    ("PUT", "/api/v1/routes/nope", "json", {"path": "/x", "target": "http://a"}, 404, None),
    ("DELETE", "/api/v1/routes/nope", "json", None, 404, None),
    ("PUT", "/api/v1/security/predict", "json", {"authType": "oauth"}, 422, "authType"),
    (
        "PUT",
        "/api/v1/security/predict",
        "json",
        {"authType": "jwt", "rateLimit": "lots"},
        422,
        "rateLimit",
    ),
    (
        "PUT",
        "/api/v1/security/predict",
        "json",
        {"endpoint": "/other", "authType": "jwt"},
        400,
        "endpoint",
    ),
    ("PUT", "/api/v1/security/a%20b", "json", {"authType": "jwt"}, 400, "endpoint"),
    ("DELETE", "/api/v1/security/nope", "json", None, 404, None),
    (
        "POST",
        "/api/v1/config",
        "json",
        {"routes": [{"path": "/a", "target": "http://a"}, {"path": "/a", "target": "http://b"}]},
        422,
        "routes",
    ),
    ("POST", "/api/v1/config", "json", {"routez": []}, 422, "routez"),
    ("POST", "/api/v1/config", "yaml", b"routes: [unclosed", 400, "body"),
    ("POST", "/api/v1/config?dryRun=maybe", "json", {}, 400, "dryRun"),
    ("PATCH", "/api/v1/settings", "json", {"logLevel": "loud"}, 422, "settings.logLevel"),
    ("GET", "/api/v1/routes?cluster=Bad%20Name", "json", None, 400, "cluster"),
    ("GET", "/api/v1/routes?cluster=ghost", "json", None, 404, "cluster"),
    (
        "POST",
        "/api/v1/routes?cluster=%27%3B%20DROP%20TABLE%20routes%3B--",
        "json",
        {"path": "/x", "target": "http://a"},
        400,
        "cluster",
    ),
]


@pytest.mark.parametrize(("method", "path", "kind", "body", "status", "field"), BAD_REQUESTS)
def test_bad_input_is_named_and_changes_nothing(
    control_plane: ControlPlaneProcess,
    cluster: str,
    method: str,
    path: str,
    kind: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    with control_plane.client() as http:
        http.post(
            "/api/v1/routes",
            params={"cluster": cluster},
            json={"name": "existing", "path": "/existing", "target": "http://a"},
        ).raise_for_status()
        before = state(http, cluster)
        if "cluster=" not in path:
            path += ("&" if "?" in path else "?") + f"cluster={cluster}"
        kwargs: dict[str, Any] = {}
        if kind == "json" and body is not None:
            kwargs["json"] = body
        elif kind in ("raw", "yaml"):
            kwargs["content"] = body
            kwargs["headers"] = {
                "Content-Type": "application/yaml" if kind == "yaml" else "application/json"
            }
        response = http.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"], "an error without a message"
        assert error.get("field") == field
        assert state(http, cluster) == before, "a refused request changed the stored config"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer"},
    ],
)
def test_admin_api_needs_the_key(
    control_plane: ControlPlaneProcess, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=control_plane.url, headers=headers) as http:
        for method, path in [
            ("GET", "/api/v1/routes"),
            ("POST", "/api/v1/routes"),
            ("GET", "/api/v1/openapi.json"),
            ("GET", "/api/v1/dataplanes"),
        ]:
            response = http.request(method, path, json={"path": "/x", "target": "http://a"})
            assert response.status_code == 401, (method, path)
            assert "AI_GATEWAY_API_KEY" in response.json()["error"]["message"]
        assert http.get("/api/v1/health").status_code == 200
        assert http.get("/healthz").status_code == 200


def test_apply_twice_changes_nothing(control_plane: ControlPlaneProcess, cluster: str) -> None:
    yaml_doc = (
        b"routes:\n  - path: /predict\n    target: http://ai-service:8080\n    methods: [POST]\n"
        b"security:\n  - endpoint: /predict\n    auth: jwt\n    rateLimit: 100\n"
        b"callback: http://external-service/webhook\n"
    )
    params = {"cluster": cluster}
    headers = {"Content-Type": "application/yaml"}
    with control_plane.client() as http:
        dry = http.post(
            "/api/v1/config", params={**params, "dryRun": "true"}, content=yaml_doc, headers=headers
        ).json()
        assert dry["summary"] == {"create": 3, "update": 0, "delete": 0} and not dry["applied"]
        assert http.get("/api/v1/routes", params=params).json()["routes"] == []
        first = http.post("/api/v1/config", params=params, content=yaml_doc, headers=headers).json()
        assert first["applied"] and first["revision"] == 1
        second = http.post(
            "/api/v1/config", params=params, content=yaml_doc, headers=headers
        ).json()
        assert second == {
            "changes": [],
            "summary": {"create": 0, "update": 0, "delete": 0},
            "revision": 1,
            "dryRun": False,
            "applied": False,
            "warnings": [
                "/predict requires a JWT but the cluster has no JWT provider: every request "
                "gets 401 until you add one (ai-gateway-cli jwt add NAME --jwks-url URL, or PUT "
                "/api/v1/jwt-providers/{name})"
            ],
        }
        exported = http.get("/api/v1/config", params={**params, "format": "yaml"})
        assert exported.headers["Content-Type"].startswith("application/yaml")
        assert (
            http.post(
                "/api/v1/config", params=params, content=exported.content, headers=headers
            ).json()["applied"]
            is False
        )


def test_openapi_document_is_served(control_plane: ControlPlaneProcess) -> None:
    with control_plane.client() as http:
        document = http.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "RouteSpec" in document["components"]["schemas"]
    assert "put" in document["paths"]["/api/v1/security/{endpoint}"]


def test_patch_changes_only_the_named_fields_of_a_policy(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    params = {"cluster": cluster}
    with control_plane.client() as http:
        created = http.patch("/api/v1/security/chat", params=params, json={"rateLimit": "5/min"})
        assert created.status_code == 201, created.text
        assert (created.json()["auth"], created.json()["rateLimit"]) == ("none", "5/min")
        changed = http.patch("/api/v1/security/chat", params=params, json={"authType": "api-key"})
        assert changed.status_code == 200 and changed.json()["rateLimit"] == "5/min"
        removed = http.patch("/api/v1/security/chat", params=params, json={"rate_limit": None})
        assert removed.json()["rateLimit"] is None and removed.json()["auth"] == "api-key"
        before = state(http, cluster)
        for body, field in (({"bogus": 1}, "bogus"), ({"authType": "oauth"}, "auth"),
                            ({"endpoint": "/other"}, "endpoint"), ([1], "body")):  # fmt: skip
            refused = http.patch("/api/v1/security/chat", params=params, json=body)
            assert refused.status_code in (400, 422) and field in refused.text, refused.text
        assert state(http, cluster) == before  # nothing stored by a refused change
