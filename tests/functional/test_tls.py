"""TLS everywhere: the proxy listener (reloaded in place), HTTPS backends, and the control plane."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.certs import IssuedCert, TestCA
from tests.support.control_plane import ControlPlaneProcess
from tests.support.gateway import Gateway, dp_version, wait_until_serving
from tests.support.processes import data_plane, upstream

TOKEN = "dp-bootstrap-token-0123456789"


def served_serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def tls_control_plane(gw: Gateway, cert: IssuedCert, *extra: str) -> ControlPlaneProcess:
    """A control plane serving REST and gRPC over TLS with ``cert``."""
    plane = ControlPlaneProcess(
        gw.workdir,
        f"sqlite+aiosqlite:///{gw.workdir / 'gw.db'}",
        cluster=gw.cluster,
        extra_args=["--tls-cert", str(cert.cert), "--tls-key", str(cert.key), *extra],
    ).start()
    gw.control_plane = plane
    return plane


def https_admin(plane: ControlPlaneProcess, ca: TestCA) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{plane.admin_port}",
        verify=ssl.create_default_context(cafile=str(ca.path)),
        headers={"Authorization": f"Bearer {plane.api_key}"},
    )


def test_tls_end_to_end(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    cp_cert, dp_cert, backend_cert = (
        ca.issue("control-plane"),
        ca.issue("data-plane"),
        ca.issue("backend"),
    )
    gw = Gateway(tmp_path)
    try:
        plane = tls_control_plane(gw, cp_cert, "--dataplane-token", TOKEN)
        admin = https_admin(plane, ca)
        assert admin.get("/api/v1/health").status_code == 200
        backend = gw.add_upstream(
            "secure-backend",
            "--tls-cert",
            str(backend_cert.cert),
            "--tls-key",
            str(backend_cert.key),
            scheme="https",
        )
        dp = data_plane(
            tmp_path,
            "dp-tls",
            plane.grpc_target,
            gw.cluster,
            "--no-api-forward",
            "--control-plane-ca",
            str(ca.path),
            "--token",
            TOKEN,
            "--tls-cert",
            str(dp_cert.cert),
            "--tls-key",
            str(dp_cert.key),
            "--upstream-ca",
            str(ca.path),
        ).start()
        gw.data_planes.append(dp)
        answer = admin.post(
            "/api/v1/routes",
            params={"cluster": gw.cluster},
            json={"path": "/secure", "target": backend},
        )
        assert answer.status_code == 201, answer.text
        wait_until_serving(dp, int(answer.headers["X-AI-Gateway-Revision"]))

        proxy = f"https://127.0.0.1:{dp.ready['proxy_port']}"
        through = httpx.get(
            proxy + "/secure/x", verify=ssl.create_default_context(cafile=str(ca.path))
        )
        assert through.status_code == 200, through.text
        assert through.json()["server"] == "secure-backend"
        assert {k.lower(): v for k, v in through.json()["headers"].items()}[
            "x-forwarded-proto"
        ] == "https"

        # Telemetry goes the same way as snapshots: over TLS, with the token.
        deadline = time.monotonic() + 10
        while not (reported := admin.get("/api/v1/dataplanes").json()["dataplanes"][0])[
            "lastReport"
        ]:
            assert time.monotonic() < deadline, reported
            time.sleep(0.1)

        # The certificate is replaced on disk: new handshakes present the new one, no restart.
        before = served_serial(dp.ready["proxy_port"], ca.path)
        assert before == dp_cert.serial
        renewed = ca.issue("data-plane-renewed", dp_cert.cert, dp_cert.key)
        deadline = time.monotonic() + 10
        while served_serial(dp.ready["proxy_port"], ca.path) != renewed.serial:
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            time.sleep(0.1)
        assert (
            httpx.get(
                proxy + "/secure", verify=ssl.create_default_context(cafile=str(ca.path))
            ).status_code
            == 200
        )
    finally:
        gw.stop()


def test_https_backend_not_trusted_by_default(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    backend_cert = ca.issue("backend")
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        backend = gw.add_upstream(
            "untrusted",
            "--tls-cert",
            str(backend_cert.cert),
            "--tls-key",
            str(backend_cert.key),
            scheme="https",
        )
        gw.add_data_plane("dp-plain")
        gw.add_route(path="/untrusted", target=backend)
        refused = httpx.get(gw.proxy_url() + "/untrusted")
        assert refused.status_code == 502, "a backend with an unknown CA was trusted"
    finally:
        gw.stop()


def test_data_planes_need_the_token(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        plane = ControlPlaneProcess(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
            cluster=gw.cluster,
            extra_args=["--dataplane-token", TOKEN],
        ).start()
        gw.control_plane = plane
        for name, extra in (("dp-none", ()), ("dp-wrong", ("--token", "wrong-token"))):
            gw.data_planes.append(
                data_plane(tmp_path, name, plane.grpc_target, gw.cluster, *extra).start()
            )
        gw.data_planes.append(
            data_plane(
                tmp_path, "dp-right", plane.grpc_target, gw.cluster, "--token", TOKEN
            ).start()
        )
        wait_until_serving(gw.data_planes[2], 0)
        time.sleep(0.5)
        assert dp_version(gw.data_planes[0]) is None and dp_version(gw.data_planes[1]) is None
        assert "UNAUTHENTICATED" in gw.data_planes[0].logs()
        with plane.client() as http:
            nodes = [
                d["nodeId"]
                for d in http.get("/api/v1/dataplanes", params={"cluster": gw.cluster}).json()[
                    "dataplanes"
                ]
            ]
        assert nodes == ["dp-right"]
    finally:
        gw.stop()


def test_mutual_tls_refuses_a_wrong_client_certificate(tmp_path: Path) -> None:
    ca = TestCA(tmp_path, "ca")
    rogue_ca = TestCA(tmp_path, "rogue-ca")
    cp_cert, good, rogue = (
        ca.issue("control-plane"),
        ca.issue("dp-good"),
        rogue_ca.issue("dp-rogue"),
    )
    gw = Gateway(tmp_path)
    try:
        plane = tls_control_plane(gw, cp_cert, "--client-ca", str(ca.path))
        common = ("--no-api-forward", "--control-plane-ca", str(ca.path))
        for name, cert in (("dp-good", good), ("dp-rogue", rogue)):
            gw.data_planes.append(
                data_plane(
                    tmp_path,
                    name,
                    plane.grpc_target,
                    gw.cluster,
                    *common,
                    "--client-cert",
                    str(cert.cert),
                    "--client-key",
                    str(cert.key),
                ).start()
            )
        gw.data_planes.append(
            data_plane(tmp_path, "dp-anonymous", plane.grpc_target, gw.cluster, *common).start()
        )
        wait_until_serving(gw.data_planes[0], 0)
        time.sleep(0.5)
        assert dp_version(gw.data_planes[1]) is None and dp_version(gw.data_planes[2]) is None
        admin = https_admin(plane, ca)
        nodes = [d["nodeId"] for d in admin.get("/api/v1/dataplanes").json()["dataplanes"]]
        assert nodes == ["dp-good"]
    finally:
        gw.stop()


def test_a_jwks_url_over_https_is_verified_with_the_upstream_ca(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    idp_cert = ca.issue("idp")
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        idp = upstream(
            tmp_path,
            "idp",
            "--tls-cert",
            str(idp_cert.cert),
            "--tls-key",
            str(idp_cert.key),
            UPSTREAM_JWKS=str(keys),
        ).start()
        gw.upstreams["idp"] = idp
        backend = gw.add_upstream("model")
        gw.add_data_plane("dp", "--upstream-ca", str(ca.path))
        gw.add_route(path="/private-idp", target=backend)
        with gw.admin() as http:
            http.put(
                "/api/v1/jwt-providers/corp",
                params={"cluster": gw.cluster},
                json={
                    "algorithms": ["RS256"],
                    "jwksUrl": f"https://127.0.0.1:{idp.ready['port']}/jwks.json",
                },
            ).raise_for_status()
        gw.secure("/private-idp", authType="jwt", jwtProviders=["corp"])
        token = jwt.encode(
            {"sub": "ann", "exp": int(time.time()) + 60},
            signing_key,
            algorithm="RS256",
            headers={"kid": "k1"},
        )
        answer = httpx.get(
            gw.proxy_url() + "/private-idp", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
    finally:
        gw.stop()
