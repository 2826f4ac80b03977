"""Nothing a signed token or an admin says can split a head the gateway writes upstream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.support.gateway import Gateway

SECRET = "k" * 40


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("inject"))
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane("dp-inject")
        with gw.admin() as http:
            for name, claim in (("idp", "sub"), ("mail", "email")):
                answer = http.put(
                    f"/api/v1/jwt-providers/{name}",
                    params={"cluster": gw.cluster},
                    json={"algorithms": ["HS256"], "secret": SECRET, "consumerClaim": claim},
                )
                assert answer.status_code in (200, 201), answer.text
        gw.add_route(path="/chat", target=backend)
        gw.add_route(path="/mail", target=backend)
        gw.secure("/chat", authType="jwt", jwtProviders=["idp"])
        gw.secure("/mail", authType="jwt", jwtProviders=["mail"])
        yield gw
    finally:
        gw.stop()


def token(**claims: Any) -> str:
    return jwt.encode({"exp": int(time.time()) + 300, **claims}, SECRET, algorithm="HS256")


def backend_requests(gw: Gateway) -> int:
    port = gw.upstreams["alpha"].ready["port"]
    return int(httpx.get(f"http://127.0.0.1:{port}/stats").json()["requests"])


def call(gw: Gateway, path: str, bearer: str) -> httpx.Response:
    return httpx.post(
        gw.proxy_url() + path, headers={"Authorization": f"Bearer {bearer}"}, content=b"{}"
    )


HOSTILE_CONSUMERS = [
    "alice\r\nX-AI-Gateway-Consumer: admin",
    "alice\r\n\r\nGET /chat HTTP/1.1\r\nHost: x\r\n\r\n",
    "alice\nX-Injected: 1",
    "alice\rX-Injected: 1",
    "alice\x00admin",
    "alice\x7f",
    "alice\tadmin",
    "alice\x1b[31m",
    " alice",
    "alice ",
    "a" * 257,
]


@pytest.mark.parametrize("consumer", HOSTILE_CONSUMERS)
@pytest.mark.parametrize(("path", "claim"), [("/chat", "sub"), ("/mail", "email")])
def test_a_signed_claim_that_is_no_header_value_is_refused(
    gateway: Gateway, consumer: str, path: str, claim: str
) -> None:
    before = backend_requests(gateway)
    answer = call(gateway, path, token(**{claim: consumer}))
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_token"
    assert f"'{claim}' claim cannot name a consumer" in error["message"]
    assert backend_requests(gateway) == before  # nothing reached the backend


def test_the_next_request_on_the_pooled_connection_gets_its_own_answer(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.proxy_url()) as client:  # one client connection
        hostile = token(sub="mallory\r\nX-AI-Gateway-Consumer: admin")
        for _ in range(3):
            refused = client.post("/chat", headers={"Authorization": f"Bearer {hostile}"})
            assert refused.status_code == 401
            good = client.post(
                "/chat/x", headers={"Authorization": f"Bearer {token(sub='bob')}"}, content=b"{}"
            )
            assert good.status_code == 200
            seen = {k.lower(): v for k, v in good.json()["headers"].items()}
            assert good.json()["path"] == "/chat/x"
            assert seen["x-ai-gateway-consumer"] == "bob"
            assert "x-injected" not in seen


def test_unicode_consumers_pass_as_utf8(gateway: Gateway) -> None:
    answer = call(gateway, "/chat", token(sub="zoë@example.com"))
    assert answer.status_code == 200
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert seen["x-ai-gateway-consumer"] == "zoë@example.com"


BAD_URLS = [
    "http://ai-service:8080/x\r\nX-Injected: 1",
    "http://ai-service:8080/x\nX: 1",
    "http://ai-service:8080/a b",
    "http://ai service:8080",
    "http://ai-service:8080/\x00",
    "http://ai-service:8080/\x7f",
    "http://ai-service:8080/a\tb",
    "http://ai-service:8080/café",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_admin_refuses_urls_that_are_no_urls(gateway: Gateway, url: str) -> None:
    params = {"cluster": gateway.cluster}
    with gateway.admin() as http:
        revision = http.get("/api/v1/clusters").json()
        cases = [
            ("POST", "/api/v1/routes", {"path": "/u", "target": url}, "targets[0].url"),
            ("PUT", "/api/v1/routes/chat", {"path": "/chat", "target": url}, "targets[0].url"),
            (
                "POST",
                "/api/v1/config",
                {"routes": [{"path": "/u", "targets": [{"url": url}]}]},
                "routes[0].targets[0].url",
            ),
            ("POST", "/api/v1/config", {"callback": url}, "callback"),
            (
                "PUT",
                "/api/v1/jwt-providers/jw",
                {"algorithms": ["RS256"], "jwksUrl": url},
                "jwksUrl",
            ),
        ]
        for method, path, body, field in cases:
            answer = http.request(method, path, params=params, json=body)
            assert answer.status_code == 422, (path, answer.text)
            error = answer.json()["error"]
            assert error["field"] == field
            assert "a URL may not" in error["message"]
        assert http.get("/api/v1/clusters").json() == revision  # nothing was committed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "/u\r\nX: 1", "target": "http://a:1"}, "path"),
        ({"path": "/u", "target": "http://a:1", "rewritePrefix": "/v1\r\nX: 1"}, "rewritePrefix"),
        ({"path": "/u", "target": "http://a:1", "rewritePrefix": "/v1 x"}, "rewritePrefix"),
        (
            {"path": "/u", "target": "http://a:1", "healthCheck": {"path": "/h\nX"}},
            "healthCheck.path",
        ),
        ({"path": "/u\x7f", "target": "http://a:1"}, "path"),
    ],
)
def test_admin_refuses_paths_a_request_line_cannot_carry(
    gateway: Gateway, body: dict[str, Any], field: str
) -> None:
    with gateway.admin() as http:
        answer = http.post("/api/v1/routes", params={"cluster": gateway.cluster}, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize("cluster", ["aimlops\n", "aimlops\r\nx", "aimlops%0a"])
def test_a_cluster_name_with_a_newline_is_refused(gateway: Gateway, cluster: str) -> None:
    with gateway.admin() as http:
        listed = http.get("/api/v1/routes", params={"cluster": cluster})
        created = http.post("/api/v1/clusters", json={"name": cluster})
    assert listed.status_code == 400
    assert listed.json()["error"]["field"] == "cluster"
    assert created.status_code in (400, 422)
