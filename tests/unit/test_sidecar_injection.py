"""The admission webhook's answers: a JSON patch that adds a valid data-plane sidecar to a
labelled pod, and nothing for any other."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import kubernetes_validate
import pytest

from control_plane.kubernetes.sidecar_injection import SidecarTemplate, review
from data_plane.settings import parse_args as data_plane_args
from tests.unit.test_kubernetes_manifests import KUBERNETES_VERSION

TEMPLATE = SidecarTemplate("ai-gateway:0.1.0", "ai-gateway-control-plane.ai-gateway.svc:50051",
                           "aimlops")  # fmt: skip


def new_pod(labels: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "llama-0", "namespace": "models", "labels": labels or {}}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai",
                                 "ports": [{"containerPort": 8000}]}]},
    }  # fmt: skip


def admission(pod: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": operation,
                    "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": pod},
    }  # fmt: skip


def apply_patch(document: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 "add" operations, the only ones the webhook sends."""
    patched = copy.deepcopy(document)
    for operation in patch:
        assert operation["op"] == "add", operation
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in
                          operation["path"].lstrip("/").split("/")]  # fmt: skip
        node: Any = patched
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if last == "-":
            node.append(operation["value"])
        else:
            node[last] = operation["value"]
    return patched


def patch_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    response = answer["response"]
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    return list(json.loads(base64.b64decode(response["patch"])))


@pytest.mark.parametrize("annotations", [{}, {"team": "ml"}])
def test_a_labelled_pod_gets_a_valid_sidecar_whose_flags_parse(
    annotations: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = new_pod({"aimlops/gateway-inject": "true"}, **annotations)
    answer = review(admission(pod), TEMPLATE)
    assert answer["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    patched = apply_patch(pod, patch_of(answer))
    kubernetes_validate.validate(patched, KUBERNETES_VERSION, strict=True)
    assert patched["metadata"]["annotations"]["aimlops/gateway-injected"] == "true"
    assert patched["metadata"]["annotations"].get("team") == annotations.get("team")
    vllm, sidecar = patched["spec"]["containers"]
    assert vllm == pod["spec"]["containers"][0] and sidecar["name"] == "ai-gateway"
    monkeypatch.setenv("AI_GATEWAY_DATAPLANE_TOKEN", "from-the-secret-0123456789")
    monkeypatch.setenv("AI_GATEWAY_NODE_ID", "llama-0")
    (program,) = sidecar["command"]
    assert program == "ai-gateway-data-plane"
    settings = data_plane_args(sidecar["args"])
    assert settings.sidecar_app == "http://127.0.0.1:8000"  # the app container's port
    assert settings.listen == ("0.0.0.0", 15080) and settings.ops_listen == ("0.0.0.0", 15090)
    assert settings.cluster == "aimlops" and settings.api_forward_url is None
    assert settings.control_plane == "ai-gateway-control-plane.ai-gateway.svc:50051"


def test_the_pod_s_annotations_choose_the_ports() -> None:
    pod = new_pod({"aimlops/gateway-inject": "true"}, **{"aimlops/gateway-port": "9000",
                  "aimlops/gateway-sidecar-port": "18080", "aimlops/gateway-sidecar-ops-port": "18090"})  # fmt: skip
    sidecar = apply_patch(pod, patch_of(review(admission(pod), TEMPLATE)))["spec"]["containers"][1]
    assert "--sidecar-app=http://127.0.0.1:9000" in sidecar["args"]
    assert [p["containerPort"] for p in sidecar["ports"]] == [18080, 18090]


@pytest.mark.parametrize(
    "pod",
    [
        new_pod(),  # not labelled
        new_pod({"aimlops/gateway-inject": "false"}),
        new_pod({"app": "x"}, **{"aimlops/gateway-inject": "true"}),  # an annotation, not a label
    ],
)
def test_a_pod_without_the_label_is_left_alone(pod: dict[str, Any]) -> None:
    response = review(admission(pod), TEMPLATE)["response"]
    assert response == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_an_injected_pod_is_not_injected_twice_nor_an_update_patched() -> None:
    pod = new_pod({"aimlops/gateway-inject": "true"})
    once = apply_patch(pod, patch_of(review(admission(pod), TEMPLATE)))
    assert "patch" not in review(admission(once), TEMPLATE)["response"]
    assert "patch" not in review(admission(pod, "UPDATE"), TEMPLATE)["response"]


def test_a_port_in_use_or_unreadable_is_a_warning_not_a_broken_pod() -> None:
    pod = new_pod({"aimlops/gateway-inject": "true"})
    pod["spec"]["containers"][0]["ports"].append({"containerPort": 15080})
    response = review(admission(pod), TEMPLATE)["response"]
    assert "patch" not in response and "port 15080 is in use" in response["warnings"][0]
    odd = new_pod({"aimlops/gateway-inject": "true"}, **{"aimlops/gateway-sidecar-port": "x"})
    response = review(admission(odd), TEMPLATE)["response"]
    assert response["allowed"] and "aimlops/gateway-sidecar-port 'x'" in response["warnings"][0]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({}, "kind"),
        ({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1"}, "apiVersion"),
        ({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}, "request"),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"uid": "x" * 500},
            },
            "request.uid",
        ),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"uid": "u", "kind": {"kind": "Secret"}, "object": {}},
            },
            "request.kind",
        ),
        ([1, 2], "kind"),
    ],
)
def test_what_is_not_a_review_is_refused_naming_the_field(document: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        review(document, TEMPLATE)


@pytest.mark.parametrize(
    "ports", [[{"containerPort": [8000]}], "8000", [["x"]], [{"containerPort": {"a": 1}}]]
)
def test_odd_shapes_in_the_pod_are_not_a_crash(ports: Any) -> None:
    pod = new_pod({"aimlops/gateway-inject": "true"}, **{"aimlops/gateway-port": "8000"})
    pod["spec"]["containers"][0]["ports"] = ports
    response = review(admission(pod), TEMPLATE)["response"]
    assert response["allowed"] is True  # with the sidecar: the odd ports are none of its own
