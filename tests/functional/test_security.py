"""Security through a real data plane: API keys, JWTs, rate limits, and what clients try."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.gateway import Gateway, wait_until_serving
from tests.support.processes import ROOT, upstream

HMAC_SECRET = "s" * 40


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("secure"))
    try:
        gw.start_control_plane()
        gw.add_upstream("alpha")
        gw.add_data_plane("dp-sec")
        yield gw
    finally:
        gw.stop()


def admin(gw: Gateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with gw.admin() as http:
        response = http.request(method, path, params={"cluster": gw.cluster}, **kwargs)
    assert response.status_code < 300, response.text
    revision = response.headers.get("X-AI-Gateway-Revision")
    if revision:
        for plane in gw.data_planes:
            wait_until_serving(plane, int(revision))
    return response


def cli(gw: Gateway, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert gw.control_plane is not None
    env = {
        **os.environ,
        "AI_GATEWAY_URL": gw.control_plane.url,
        "AI_GATEWAY_API_KEY": gw.control_plane.api_key,
        "AI_GATEWAY_HOME": str(tmp / "home"),
        "AI_GATEWAY_CLUSTER": gw.cluster,
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def synced(gw: Gateway) -> None:
    """Wait until every data plane serves the cluster's current revision (after a CLI change)."""
    clusters = admin(gw, "GET", "/api/v1/clusters").json()["clusters"]
    revision = next(c["revision"] for c in clusters if c["name"] == gw.cluster)
    for plane in gw.data_planes:
        wait_until_serving(plane, revision)


def backend(gw: Gateway) -> str:
    return f"http://127.0.0.1:{gw.upstreams['alpha'].ready['port']}"


def test_seed_api_key_policy_with_rate_limit(gateway: Gateway, tmp_path: Path) -> None:
    gateway.add_route(path="/chat", target=backend(gateway))
    cli(
        gateway,
        tmp_path,
        "secure",
        "--endpoint",
        "/chat",
        "--auth",
        "api-key",
        "--rate-limit",
        "5/min",
    )
    key = json.loads(
        cli(gateway, tmp_path, "keys", "create", "--consumer", "team-a", "-o", "json").stdout
    )["key"]
    synced(gateway)
    url = gateway.proxy_url() + "/chat"

    missing = httpx.post(url)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = httpx.post(url, headers={"Authorization": "Bearer aigw_wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"

    ok = httpx.post(
        url, headers={"Authorization": f"Bearer {key}", "X-AI-Gateway-Consumer": "admin"}
    )
    assert ok.status_code == 200, ok.text
    seen = {k.lower(): v for k, v in ok.json()["headers"].items()}
    assert seen["x-ai-gateway-consumer"] == "team-a", "the client's own consumer header got through"
    assert "authorization" not in seen, "the gateway key was passed to the backend"
    assert ok.headers["X-RateLimit-Limit"] == "5" and ok.headers["X-RateLimit-Remaining"] == "4"

    via_header = httpx.post(url, headers={"X-API-Key": key})
    assert via_header.status_code == 200
    statuses = [httpx.post(url, headers={"X-API-Key": key}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = httpx.post(url, headers={"X-API-Key": key})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert (
        int(limited.headers["Retry-After"]) >= 1 and limited.headers["X-RateLimit-Remaining"] == "0"
    )


def test_revoked_key_is_refused_within_a_second(gateway: Gateway) -> None:
    gateway.add_route(path="/revoke-me", target=backend(gateway))
    admin(gateway, "PUT", "/api/v1/security/revoke-me", json={"authType": "api-key"})
    created = admin(gateway, "POST", "/api/v1/consumers/team-b/keys", json={}).json()
    url = gateway.proxy_url() + "/revoke-me"
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert httpx.get(url, headers=headers).status_code == 200
    with gateway.admin() as http:
        http.delete(
            f"/api/v1/keys/{created['id']}", params={"cluster": gateway.cluster}
        ).raise_for_status()
    revoked_at = time.monotonic()
    while httpx.get(url, headers=headers).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "the revoked key still works after 1 s"
        time.sleep(0.01)


def test_key_scope_and_expiry(gateway: Gateway) -> None:
    gateway.add_route(name="scoped-a", path="/scoped-a", target=backend(gateway))
    gateway.add_route(name="scoped-b", path="/scoped-b", target=backend(gateway))
    admin(gateway, "PUT", "/api/v1/security/scoped-a", json={"authType": "api-key"})
    admin(gateway, "PUT", "/api/v1/security/scoped-b", json={"authType": "api-key"})
    key = admin(
        gateway, "POST", "/api/v1/consumers/team-c/keys", json={"routes": ["scoped-a"]}
    ).json()["key"]
    headers = {"X-API-Key": key}
    assert httpx.get(gateway.proxy_url() + "/scoped-a", headers=headers).status_code == 200
    denied = httpx.get(gateway.proxy_url() + "/scoped-b", headers=headers)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "key_not_allowed"
    short = admin(
        gateway, "POST", "/api/v1/consumers/team-c/keys", json={"expiresIn": "1s"}
    ).json()["key"]
    time.sleep(1.1)
    expired = httpx.get(gateway.proxy_url() + "/scoped-a", headers={"X-API-Key": short})
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "expired_api_key"


def test_no_plaintext_key_is_stored_or_listed(gateway: Gateway) -> None:
    key = admin(gateway, "POST", "/api/v1/consumers/team-d/keys", json={}).json()["key"]
    database = (gateway.workdir / "gateway.db").read_bytes()
    for suffix in ("", "-wal"):
        path = gateway.workdir / f"gateway.db{suffix}"
        if path.exists():
            database += path.read_bytes()
    assert key.encode() not in database and key[12:].encode() not in database
    listed = admin(gateway, "GET", "/api/v1/keys").text
    assert key[12:] not in listed and "hash" not in listed


def _token(key: Any, algorithm: str = "HS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "sub": "alice",
        "iss": "https://issuer.test",
        "aud": "ai-gateway",
        "exp": now + 300,
        "iat": now,
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm)


def test_jwt_policy(gateway: Gateway, rsa_key: rsa.RSAPrivateKey) -> None:
    gateway.add_route(path="/predict", target=backend(gateway))
    admin(
        gateway,
        "PUT",
        "/api/v1/jwt-providers/hs",
        json={
            "algorithms": ["HS256"],
            "secret": HMAC_SECRET,
            "issuer": "https://issuer.test",
            "audiences": ["ai-gateway"],
        },
    )
    admin(
        gateway,
        "PUT",
        "/api/v1/security/predict",
        json={"authType": "jwt", "rateLimit": 100, "jwtProviders": ["hs"]},
    )
    url = gateway.proxy_url() + "/predict"

    def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.post(url, headers=headers).status_code

    good = httpx.post(url, headers={"Authorization": f"Bearer {_token(HMAC_SECRET)}"})
    assert good.status_code == 200
    assert {k.lower(): v for k, v in good.json()["headers"].items()}[
        "x-ai-gateway-consumer"
    ] == "alice"
    assert status(None) == 401
    header, payload, _ = _token(HMAC_SECRET).split(".")
    unsigned = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    assert status(f"{unsigned}.{payload}.") == 401
    assert status(f"{header}.{payload}.forgedsignature") == 401
    assert status(_token("x" * 40)) == 401
    assert status(_token(HMAC_SECRET, exp=int(time.time()) - 3600)) == 401
    assert status(_token(HMAC_SECRET, nbf=int(time.time()) + 3600)) == 401
    assert status(_token(HMAC_SECRET, aud="someone-else")) == 401
    assert status(_token(HMAC_SECRET, iss="https://evil.test")) == 401
    assert status(_token(HMAC_SECRET, exp=None)) == 401
    assert (
        status(
            jwt.encode(
                {"sub": "a", "exp": 9999999999}, HMAC_SECRET, headers={"kid": "../../etc/passwd"}
            )
        )
        == 401
    )
    refused = httpx.post(url, headers={"Authorization": f"Bearer {_token(HMAC_SECRET, aud='x')}"})
    assert refused.json()["error"]["code"] == "invalid_token"
    assert HMAC_SECRET not in refused.text


def test_hs256_signed_with_the_rsa_public_key_is_refused(
    gateway: Gateway, rsa_key: rsa.RSAPrivateKey
) -> None:
    public_pem = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    gateway.add_route(path="/rsa", target=backend(gateway))
    admin(
        gateway,
        "PUT",
        "/api/v1/jwt-providers/rs",
        json={"algorithms": ["RS256"], "publicKey": public_pem},
    )
    admin(gateway, "PUT", "/api/v1/security/rsa", json={"authType": "jwt", "jwtProviders": ["rs"]})
    url = gateway.proxy_url() + "/rsa"
    good = _token(rsa_key, algorithm="RS256")
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(b'{"sub":"mallory","exp":9999999999}').decode()
    signature = hmac.new(public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{body}.{jwt.utils.base64url_encode(signature).decode()}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {confused}"}).status_code == 401


def test_path_tricks_get_the_secured_decision(gateway: Gateway) -> None:
    gateway.add_route(path="/open", target=backend(gateway))
    gateway.add_route(path="/locked", target=backend(gateway))
    admin(gateway, "PUT", "/api/v1/security/locked", json={"authType": "api-key"})
    port = gateway.data_planes[0].ready["proxy_port"]

    def status(target: str) -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
            return int(sock.recv(64).split()[1])

    assert status("/open") == 200
    for trick in [
        "/locked",
        "//locked",
        "/open/../locked",
        "/open/%2e%2e/locked",
        "/./locked",
        "/%6cocked",
        "/locked/",
        "/locked/sub",
    ]:
        assert status(trick) == 401, trick
    for refused in ["/open%2F..%2Flocked", "/open%2f..%2flocked", "/open%5C..%5Clocked"]:
        assert status(refused) == 400, refused
    assert status("/LOCKED") == 404  # no route, and so nothing is served


def test_bad_jwt_provider_input_is_refused(gateway: Gateway) -> None:
    with gateway.admin() as http:
        for body, field in [
            ({"algorithms": ["none"], "secret": HMAC_SECRET}, "algorithms"),
            ({"algorithms": ["HS256", "RS256"], "secret": HMAC_SECRET}, "algorithms"),
            ({"algorithms": ["HS256"], "secret": "short"}, "body"),
            ({"algorithms": ["RS256"], "secret": HMAC_SECRET}, "body"),
        ]:
            answer = http.put(
                "/api/v1/jwt-providers/bad", params={"cluster": gateway.cluster}, json=body
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["field"] == field
        unknown = http.put(
            "/api/v1/security/x",
            params={"cluster": gateway.cluster},
            json={"authType": "jwt", "jwtProviders": ["ghost"]},
        )
        assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "jwtProviders"
        listed = http.get("/api/v1/jwt-providers", params={"cluster": gateway.cluster}).text
        assert HMAC_SECRET not in listed
        # What a GET answers, sent back: a new provider has no secret to keep; a stored one
        # keeps its own.
        redacted = {"algorithms": ["HS256"], "secret": "<redacted>"}
        path, params = "/api/v1/jwt-providers/fresh", {"cluster": gateway.cluster}
        refused = http.put(path, params=params, json=redacted)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "secret"
        assert "no stored secret to keep" in refused.json()["error"]["message"]
        made = http.put(path, params=params, json={**redacted, "secret": HMAC_SECRET})
        assert made.status_code in (200, 201), made.text
        kept = http.put(path, params=params, json={**redacted, "issuer": "https://id.test"})
        assert kept.status_code == 200, kept.text
        config = http.get("/api/v1/config", params=params).json()
        (fresh,) = [p for p in config["jwtProviders"] if p["name"] == "fresh"]
        assert fresh["secret"] == "<redacted>" and fresh["issuer"] == "https://id.test"
        assert http.delete(path, params=params).status_code == 200


def test_jwks_provider_with_a_bounded_refresh(
    gateway: Gateway, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(
        json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]})
    )
    issuer = upstream(gateway.workdir, "issuer", UPSTREAM_JWKS=str(keys_file)).start()
    try:
        issuer_url = f"http://127.0.0.1:{issuer.ready['port']}"
        gateway.add_route(path="/jwks-protected", target=backend(gateway))
        admin(
            gateway,
            "PUT",
            "/api/v1/jwt-providers/idp",
            json={"algorithms": ["RS256"], "jwksUrl": issuer_url + "/jwks.json"},
        )
        admin(
            gateway,
            "PUT",
            "/api/v1/security/jwks-protected",
            json={"authType": "jwt", "jwtProviders": ["idp"]},
        )
        url = gateway.proxy_url() + "/jwks-protected"

        def call(kid: str) -> int:
            token = jwt.encode(
                {"sub": "bob", "exp": int(time.time()) + 60},
                rsa_key,
                algorithm="RS256",
                headers={"kid": kid},
            )
            return httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code

        assert call("key-1") == 200
        assert [call(f"hostile-{i}") for i in range(20)] == [401] * 20
        fetches = httpx.get(issuer_url + "/stats").json()["jwks_fetches"]
        assert fetches <= 2, f"unknown kids made the data plane fetch the key set {fetches} times"
    finally:
        issuer.stop()


def test_a_jwt_provider_a_policy_names_cannot_be_deleted(gateway: Gateway) -> None:
    gateway.add_route(path="/held", target=backend(gateway))
    admin(
        gateway,
        "PUT",
        "/api/v1/jwt-providers/keeper",
        json={"algorithms": ["HS256"], "secret": HMAC_SECRET},
    )
    admin(
        gateway,
        "PUT",
        "/api/v1/security/held",
        json={"authType": "jwt", "jwtProviders": ["keeper"]},
    )
    params = {"cluster": gateway.cluster}
    with gateway.admin() as http:
        refused = http.delete("/api/v1/jwt-providers/keeper", params=params)
        assert refused.status_code == 409, refused.text
        assert "/held" in refused.json()["error"]["message"]
        names = [
            p["name"]
            for p in http.get("/api/v1/jwt-providers", params=params).json()["jwtProviders"]
        ]
        assert "keeper" in names
        dangling = http.post(
            "/api/v1/config",
            params={**params, "dryRun": "false"},
            json={
                **http.get("/api/v1/config", params=params).json(),
                "security": [{"endpoint": "/held", "auth": "jwt", "jwtProviders": ["ghost"]}],
            },
        )
        assert dangling.status_code == 422, dangling.text
        assert "ghost" in dangling.json()["error"]["message"]
    token = _token(HMAC_SECRET, iss=None, aud=None)
    answer = httpx.get(gateway.proxy_url() + "/held", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200  # the endpoint still takes its tokens
