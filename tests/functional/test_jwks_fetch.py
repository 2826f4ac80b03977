"""A hanging JWKS endpoint costs one fetch per cooldown, and no valid token ever waits for it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.gateway import Gateway
from tests.support.processes import ChildProcess, upstream

COOLDOWN = 6  # seconds between fetches for unknown kids; the fetch timeout is 2


@pytest.fixture
def issuer_and_gateway(tmp_path: Path) -> Iterator[tuple[rsa.RSAPrivateKey, ChildProcess, Gateway]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(
        json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]})
    )
    gw = Gateway(tmp_path)
    issuer = upstream(tmp_path, "issuer", UPSTREAM_JWKS=str(keys_file))
    try:
        issuer.start()
        gw.start_control_plane()
        backend = gw.add_upstream("alpha")
        gw.add_data_plane(
            "dp-jwks", "--jwks-fetch-timeout", "2", "--jwks-refetch-cooldown", str(COOLDOWN)
        )
        with gw.admin() as http:
            answer = http.put(
                "/api/v1/jwt-providers/idp",
                params={"cluster": gw.cluster},
                json={
                    "algorithms": ["RS256"],
                    "jwksUrl": f"http://127.0.0.1:{issuer.ready['port']}/jwks.json",
                },
            )
            assert answer.status_code == 201, answer.text
        gw.add_route(path="/chat", target=backend)
        gw.secure("/chat", authType="jwt", jwtProviders=["idp"])
        yield key, issuer, gw
    finally:
        gw.stop()
        issuer.stop()


def fetches(issuer: ChildProcess) -> int:
    return int(httpx.get(f"http://127.0.0.1:{issuer.ready['port']}/stats").json()["jwks_fetches"])


def test_unknown_kids_against_a_hanging_issuer(
    issuer_and_gateway: tuple[rsa.RSAPrivateKey, ChildProcess, Gateway],
) -> None:
    key, issuer, gateway = issuer_and_gateway
    url = gateway.proxy_url() + "/chat"

    def call(kid: str) -> int:
        token = jwt.encode(
            {"sub": "bob", "exp": int(time.time()) + 300},
            key,
            algorithm="RS256",
            headers={"kid": kid},
        )
        return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code

    assert call("key-1") == 200  # the set was fetched when the snapshot arrived
    assert fetches(issuer) == 1
    httpx.post(f"http://127.0.0.1:{issuer.ready['port']}/jwks-hang")

    with ThreadPoolExecutor(12) as pool:
        # Within the cooldown of the fetch at start, unknown kids are refused without a fetch;
        # the first one after it starts the one fetch, which hangs.
        first = pool.submit(call, "made-up-0")
        while fetches(issuer) < 2:
            assert not first.done() or first.result() == 401
            if first.done():
                first = pool.submit(call, "made-up-0")
            time.sleep(0.05)
        hostile = [first] + [pool.submit(call, f"made-up-{index}") for index in range(1, 12)]
        assert call("key-1") == 200  # a known kid does not wait on the fetch...
        assert not any(done.done() for done in hostile)  # ...while the unknown ones still do
        assert [done.result() for done in hostile] == [401] * 12
    assert fetches(issuer) == 2  # twelve unknown kids, one fetch

    # The failed fetch started a cooldown too: more unknown kids are refused without a fetch.
    assert [call(f"later-{index}") for index in range(5)] == [401] * 5
    assert fetches(issuer) == 2
    assert call("key-1") == 200
