"""Sidecar mode: the control plane's admission webhook (over TLS) adds a data plane to a
labelled pod, and a data plane started as that sidecar sends every route to its app."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path

import httpx
import pytest

from tests.support.certs import TestCA
from tests.support.gateway import Gateway
from tests.unit.test_sidecar_injection import admission, new_pod


def test_the_webhook_injects_and_the_sidecar_serves_its_own_app(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    issued = ca.issue("injector")
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane(
            "--sidecar-webhook-listen", "127.0.0.1:0", "--sidecar-webhook-cert", str(issued.cert),
            "--sidecar-webhook-key", str(issued.key), "--sidecar-image", "registry.local/aigw:1",
        )  # fmt: skip
        assert gw.control_plane is not None and gw.control_plane.child is not None
        webhook = f"https://127.0.0.1:{gw.control_plane.child.ready['webhook_port']}/mutate"
        pod = new_pod({"aimlops/gateway-inject": "true"})
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca.path))) as https:
            answer = https.post(webhook, json=admission(pod))
            assert answer.status_code == 200, answer.text
            patch = json.loads(base64.b64decode(answer.json()["response"]["patch"]))
            (container,) = [op["value"] for op in patch if op["path"] == "/spec/containers/-"]
            assert container["image"] == "registry.local/aigw:1"
            assert "--cluster=aimlops" in container["args"]
            plain = https.post(webhook, json=admission(new_pod()))
            assert plain.status_code == 200 and "patch" not in plain.json()["response"]
            junk = https.post(webhook, content=b"{not json")
            assert junk.status_code == 400 and "not an AdmissionReview" in junk.text
        with pytest.raises(httpx.ConnectError):  # a client must trust the webhook's cert
            httpx.post(webhook, json=admission(pod))

        app = gw.add_upstream("app")
        sidecar_app = next(a for a in container["args"] if a.startswith("--sidecar-app="))
        assert sidecar_app == "--sidecar-app=http://127.0.0.1:8000"
        gw.add_data_plane("sidecar", f"--sidecar-app={app}")  # its app, on this test's port
        gw.add_route(path="/echo", target="http://10.255.255.1:9")  # not the sidecar's business
        answer = httpx.get(gw.proxy_url() + "/echo/hello")
        assert answer.status_code == 200 and answer.json()["path"] == "/echo/hello"
    finally:
        gw.stop()
