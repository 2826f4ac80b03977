"""What hostile clients send: smuggling shapes, oversized headers, injection-shaped keys, spoofed XFF."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import Gateway, wait_until_serving


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("hostile"))
    try:
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane("dp-trusting", "--trusted-proxies", "127.0.0.1/32")
        gw.add_route(path="/echo", target=backend)
        gw.add_route(path="/keyed", target=backend)
        with gw.admin() as http:
            for endpoint, body in [
                ("keyed", {"authType": "api-key"}),
                ("echo", {"rateLimit": "2/min"}),
            ]:
                answer = http.put(
                    f"/api/v1/security/{endpoint}", params={"cluster": gw.cluster}, json=body
                )
                wait_until_serving(gw.data_planes[0], int(answer.headers["X-AI-Gateway-Revision"]))
        yield gw
    finally:
        gw.stop()


def raw(gateway: Gateway, data: bytes) -> bytes:
    with socket.create_connection(
        ("127.0.0.1", gateway.data_planes[0].ready["proxy_port"]), timeout=5
    ) as sock:
        sock.sendall(data)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except TimeoutError:
            pass
    return reply


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /keyed HTTP/1.1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhii",
        b"GET /echo HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: a\r\n" % i for i in range(300))
        + b"\r\n",
    ],
    ids=[
        "cl-and-te",
        "duplicate-cl",
        "bare-cr",
        "obs-fold",
        "space-before-colon",
        "huge-header",
        "many-headers",
    ],
)
def test_smuggling_shapes_are_refused(gateway: Gateway, request_bytes: bytes) -> None:
    reply = raw(gateway, request_bytes)
    assert reply.split(b"\r\n", 1)[0].split()[1] == b"400", reply[:200]
    assert reply.count(b"HTTP/1.") == 1, "a second, smuggled request was answered"


@pytest.mark.parametrize(
    "key",
    [
        "' OR '1'='1",
        "aigw_'; DROP TABLE api_keys;--",
        "a" * 10_000,
        "aigw_\u00e9\u00e8",
        "${jndi:ldap://x}",
        "*",
    ],
)
def test_injection_shaped_keys_are_just_wrong(gateway: Gateway, key: str) -> None:
    answer = httpx.get(gateway.proxy_url() + "/keyed", headers={b"X-API-Key": key.encode()})
    assert answer.status_code in (400, 401), answer.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/routes", {"cluster": "' OR 1=1 --"}),
        ("/api/v1/routes/' OR '1'='1", {}),
        ("/api/v1/security/..%2F..%2Fetc", {}),
        ("/api/v1/keys", {"cluster": "x" * 500}),
        ("/api/v1/config", {"format": "<script>", "cluster": "aimlops"}),
    ],
)
def test_injection_shaped_admin_queries(
    gateway: Gateway, path: str, params: dict[str, Any]
) -> None:
    with gateway.admin() as http:
        before = http.get("/api/v1/config", params={"cluster": gateway.cluster}).json()
        answer = http.get(path, params=params)
        assert answer.status_code < 500, answer.text
        assert answer.status_code in (200, 400, 404)
        assert http.get("/api/v1/config", params={"cluster": gateway.cluster}).json() == before


def test_spoofed_forwarded_for_does_not_escape_the_limit(gateway: Gateway) -> None:
    """The data plane trusts 127.0.0.1 as a proxy: each forwarded client gets its own count,
    while a client that spoofs hops behind an untrusted address is still counted by that address."""
    url = gateway.proxy_url() + "/echo"
    for client in ("198.51.100.1", "198.51.100.2"):
        statuses = [
            httpx.get(url, headers={"X-Forwarded-For": client}).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429], (client, statuses)
    spoofed = [
        httpx.get(url, headers={"X-Forwarded-For": f"10.9.9.{i}, 198.51.100.3"}).status_code
        for i in range(3)
    ]
    assert spoofed == [200, 200, 429]


def test_no_secret_reaches_a_log(gateway: Gateway) -> None:
    with gateway.admin() as http:
        created = http.post(
            "/api/v1/consumers/logcheck/keys", params={"cluster": gateway.cluster}, json={}
        )
        key = created.json()["key"]
        wait_until_serving(gateway.data_planes[0], int(created.headers["X-AI-Gateway-Revision"]))
    assert (
        httpx.get(
            gateway.proxy_url() + "/keyed", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
    httpx.get(
        gateway.proxy_url() + "/keyed", headers={"Authorization": "Bearer aigw_not-a-real-key-123"}
    )
    assert gateway.control_plane is not None
    logs = gateway.control_plane.logs() + "".join(p.logs() for p in gateway.data_planes)
    for secret in (key, "aigw_not-a-real-key-123", gateway.control_plane.api_key):
        assert secret not in logs


def test_crlf_in_header_values_and_client_consumer_headers_are_not_passed_on(
    gateway: Gateway,
) -> None:
    reply = raw(
        gateway,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\nX-Injected: yes\r\n\r\n".replace(
            b"X-A: a\r\nX-Injected", b"X-A: a\rX-Injected"
        ),
    )
    assert reply.split(b"\r\n", 1)[0].split()[1] == b"400"
    echoed = httpx.get(
        gateway.proxy_url() + "/echo",
        headers={"X-AI-Gateway-Consumer": "root", "X-Forwarded-For": "198.51.100.99"},
    )
    seen = {k.lower() for k in echoed.json()["headers"]}
    assert "x-ai-gateway-consumer" not in seen


def test_a_body_naming_another_upstream_changes_nothing(gateway: Gateway) -> None:
    answer = httpx.post(
        gateway.proxy_url() + "/echo",
        json={
            "model": "x",
            "api_base": "http://127.0.0.1:9/evil",
            "base_url": "http://127.0.0.1:9",
        },
        headers={"X-Forwarded-For": "198.51.100.50"},
    )
    assert answer.status_code == 200 and answer.json()["server"] == "alpha"


def test_a_sentinel_secret_stays_out_of_everything(gateway: Gateway) -> None:
    sentinel = "sentinel-" + "z" * 40
    with gateway.admin() as http:
        answer = http.put(
            "/api/v1/jwt-providers/sentinel",
            params={"cluster": gateway.cluster},
            json={"algorithms": ["HS256"], "secret": sentinel},
        )
        wait_until_serving(gateway.data_planes[0], int(answer.headers["X-AI-Gateway-Revision"]))
        admin_gets = "".join(
            http.get(p, params={"cluster": gateway.cluster}).text
            for p in (
                "/api/v1/jwt-providers",
                "/api/v1/keys",
                "/api/v1/consumers",
                "/api/v1/security",
                "/api/v1/dataplanes",
            )
        )
    refused = httpx.get(
        gateway.proxy_url() + "/keyed", headers={"Authorization": f"Bearer {sentinel}"}
    )
    metrics = httpx.get(f"http://127.0.0.1:{gateway.data_planes[0].ready['ops_port']}/metrics").text
    assert gateway.control_plane is not None
    logs = gateway.control_plane.logs() + "".join(p.logs() for p in gateway.data_planes)
    for where, text in (
        ("admin GETs", admin_gets),
        ("error body", refused.text),
        ("metrics", metrics),
        ("logs", logs),
    ):
        assert sentinel not in text, where
