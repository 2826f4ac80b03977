"""Events reach the cluster's ``callback:`` URL: retried until taken, and kept across restarts."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import Gateway, wait_until_serving
from tests.support.processes import free_port
from tests.support.webhooks import receiver


def apply(gw: Gateway, document: dict[str, Any]) -> int:
    with gw.admin() as http:
        answer = http.post("/api/v1/config", params={"cluster": gw.cluster}, json=document)
        assert answer.status_code == 200, answer.text
        return int(answer.headers["X-AI-Gateway-Revision"])


def outbox(gw: Gateway) -> list[dict[str, Any]]:
    with gw.admin() as http:
        return list(http.get("/api/v1/webhooks", params={"cluster": gw.cluster}).json()["webhooks"])


def test_config_changes_are_delivered_and_retried_until_taken(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    with receiver(statuses=(503, 503)) as hook:
        try:
            gw.start_control_plane()
            revision = apply(
                gw, {"callback": hook.url, "routes": [{"path": "/chat", "target": "http://m:1"}]}
            )
            event = hook.wait_for("config.applied", revision=revision)
            assert event["cluster"] == gw.cluster and event["data"]["previousRevision"] < revision
            assert hook.headers[0]["X-AI-Gateway-Event"] == "config.applied"
            assert hook.headers[0]["X-AI-Gateway-Delivery"] == event["id"]
            (shown,) = outbox(gw)
            assert shown["status"] == "delivered" and shown["attempts"] == 3, shown

            with gw.admin() as http:
                http.post(
                    "/api/v1/routes",
                    params={"cluster": gw.cluster},
                    json={"path": "/more", "target": "http://m:1"},
                ).raise_for_status()
            hook.wait_for("config.applied", revision=revision + 1)
            listed = gw.cli("webhooks")
            assert "config.applied" in listed and "delivered" in listed
        finally:
            gw.stop()


def test_an_undelivered_event_survives_a_control_plane_restart(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    port = free_port()
    try:
        gw.start_control_plane()
        url = f"http://127.0.0.1:{port}/hook"
        revision = apply(
            gw, {"callback": url, "routes": [{"path": "/chat", "target": "http://m:1"}]}
        )
        deadline = time.monotonic() + 10
        while not (pending := outbox(gw)) or not pending[0]["lastError"]:
            assert time.monotonic() < deadline, pending
            time.sleep(0.1)
        assert pending[0]["status"] == "pending"
        assert gw.control_plane is not None
        gw.control_plane.stop()
        with receiver(port) as hook:
            gw.control_plane.start()
            hook.wait_for("config.applied", timeout=20, revision=revision)
            assert len([e for e in hook.events if e["data"]["revision"] == revision]) == 1
    finally:
        gw.stop()


def test_a_backend_going_out_and_back_is_announced(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    with receiver() as hook:
        try:
            gw.start_control_plane("--telemetry-interval", "0.3")
            good = gw.add_upstream("model")
            gw.add_data_plane("dp", "--ejection-seconds", "1")
            dead = f"http://127.0.0.1:{free_port()}"
            revision = apply(
                gw, {"callback": hook.url, "routes": [{"path": "/chat", "targets": [dead, good]}]}
            )
            wait_until_serving(gw.data_planes[0], revision)
            for _ in range(12):  # every other try goes to the dead one: 5 failures eject it
                assert httpx.get(gw.proxy_url() + "/chat").status_code == 200
            out = hook.wait_for("target.unhealthy", target=dead)
            assert out["data"]["state"] == "ejected" and out["data"]["reportedBy"] == "dp"
            hook.wait_for("target.healthy", target=dead)  # the ejection (1 s) ran out
            assert not any(e["data"].get("target") == good for e in hook.events)
        finally:
            gw.stop()


def verify(secret: str, signature: str, body: bytes, tolerance: float = 300.0) -> bool:
    """What a receiver does with X-AI-Gateway-Signature (the README shows the same)."""
    fields = dict(part.split("=", 1) for part in signature.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])


def test_events_are_signed_with_the_webhook_secret(tmp_path: Path) -> None:
    secret = "whsec-0123456789abcdef"
    gw = Gateway(tmp_path)
    with receiver() as hook:
        try:
            gw.start_control_plane("--webhook-secret", secret)
            apply(gw, {"callback": hook.url, "routes": [{"path": "/chat", "target": "http://m:1"}]})
            hook.wait_for("config.applied")
            signature = hook.headers[0]["X-AI-Gateway-Signature"]
            assert verify(secret, signature, hook.bodies[0])
            assert not verify("another-secret", signature, hook.bodies[0])
            assert not verify(secret, signature, hook.bodies[0] + b" "), "the body is signed"
        finally:
            gw.stop()
