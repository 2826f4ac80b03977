"""What an annotated pod becomes: every annotation is someone's input, checked."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.kubernetes.pod_backends import PodRejected, backend_of
from tests.support.kube_api import pod


def test_the_seed_s_annotation_alone_serves_the_pod_under_its_app_name() -> None:
    backend = backend_of(pod("ai-pod-7f9c", 8000, labels={"app": "ai-pod"}, gateway="true"))
    assert backend is not None
    assert (backend.pod, backend.url, backend.path, backend.strip_prefix) == (
        "models/ai-pod-7f9c", "http://127.0.0.1:8000", "/ai-pod", True,
    )  # fmt: skip
    assert backend.route_name == "k8s-ai-pod"


def test_the_domain_spelling_and_every_key_are_read() -> None:
    body = pod("vllm-0", 8000, ip="10.1.2.3")
    body["metadata"]["annotations"] = {
        "aimlops.io/gateway": "True",
        "aimlops.io/gateway-path": "/v1/chat/completions",
        "aimlops.io/gateway-port": "9000",
        "aimlops.io/gateway-model": "llama-3.1-70b, llama-3*",
        "aimlops.io/gateway-weight": "5",
        "aimlops.io/gateway-priority": "1",
    }
    backend = backend_of(body)
    assert backend is not None
    assert backend.url == "http://10.1.2.3:9000" and backend.models == ("llama-3.1-70b", "llama-3*")
    assert (backend.weight, backend.priority, backend.strip_prefix) == (5, 1, False)
    assert backend.route_name.startswith("k8s-v1-chat-completions-")  # with its models' hash


def test_an_ipv6_pod_gets_a_bracketed_url() -> None:
    backend = backend_of(pod("p", 8000, ip="fd00::12", gateway="true", gateway_route="chat"))
    assert backend is not None and backend.url == "http://[fd00::12]:8000"


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["metadata"]["annotations"].pop("aimlops/gateway"),
        lambda p: p["metadata"]["annotations"].update({"aimlops/gateway": "false"}),
        lambda p: p["status"]["conditions"][0].update(status="False"),
        lambda p: p["status"].pop("conditions"),
        lambda p: p["status"].pop("podIP"),
        lambda p: p["metadata"].update(deletionTimestamp="2026-12-01T00:00:00Z"),
    ],
    ids=["not-annotated", "annotated-false", "not-ready", "no-conditions", "no-ip", "deleting"],
)
def test_a_pod_that_should_not_serve_is_no_backend(change: Any) -> None:
    body = pod("p", 8000, gateway="true")
    change(body)
    assert backend_of(body) is None


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"gateway_port": "http"}, "aimlops/gateway-port 'http': give a port from 1 to 65535"),
        ({"gateway_port": "70000"}, "give a port from 1 to 65535"),
        ({"gateway_port": "\uff18\uff10"}, "give a port from 1 to 65535"),  # full-width 80
        ({"gateway_weight": "-1"}, "aimlops/gateway-weight '-1': give a whole number"),
        ({"gateway_weight": "99999"}, "aimlops/gateway-weight"),
        ({"gateway_priority": "1e3"}, "aimlops/gateway-priority '1e3': give a whole number"),
        ({"gateway_route": "Not A Name"}, "aimlops/gateway-route"),
        ({"gateway_path": "no-slash"}, "aimlops/gateway-path"),
        ({"gateway_model": "llama\r\nx-injected: 1"}, "aimlops/gateway-model"),
        ({"gateway_route": "chat", "gateway_path": "/x"}, "give one"),
        ({"gateway_route": "x" * 2000}, "keep it under 1024 characters"),
    ],
)
def test_annotations_that_cannot_make_a_backend_say_which_and_how(
    annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(PodRejected, match=message.replace("*", r"\*")):
        body = pod("p", 8000, gateway="true")
        body["metadata"]["annotations"].update(
            {f"aimlops/{key.replace('_', '-')}": value for key, value in annotations.items()}
        )
        backend_of(body)


def test_a_pod_ip_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(PodRejected, match=r"status\.podIP"):
        backend_of(pod("p", 8000, ip="evil.example:80/", gateway="true"))


def test_without_a_port_annotation_nor_a_container_port_the_pod_is_told_what_to_set() -> None:
    body = pod("p", 8000, gateway="true")
    body["spec"]["containers"][0]["ports"] = []
    with pytest.raises(PodRejected, match="set aimlops/gateway-port"):
        backend_of(body)


def test_malformed_shapes_are_not_a_crash() -> None:
    for body in ({}, {"metadata": None}, {"metadata": {"annotations": ["x"]}},
                 {"metadata": {"annotations": {"aimlops/gateway": "true"}}, "status": None}):  # fmt: skip
        assert backend_of(body) is None
