"""The mutating admission webhook that adds a data-plane sidecar to pods created with the
label ``aimlops/gateway-inject: "true"``.

The API server sends an AdmissionReview (admission.k8s.io/v1) for each such pod; the
answer allows it, with a JSON patch that adds the ``ai-gateway`` container: a data plane
of the cluster (it streams the cluster's config like any data plane) listening on the
pod's sidecar port and sending every request to the app container on localhost
(``--sidecar-app``). A pod that is not labelled, already has the container, or whose
ports the sidecar would take is allowed unchanged (with a warning saying why, for the
last). A review that is not one (wrong kind, no uid, not a pod) is a ValueError naming
the field: the webhook answers it 400. Nothing here can refuse a pod: the webhook only
ever adds, and the configuration sets ``failurePolicy: Ignore``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from control_plane.kubernetes.pod_backends import PREFIXES

CONTAINER = "ai-gateway"
INJECT = "gateway-inject"
SIDECAR_PORT, SIDECAR_OPS_PORT = "gateway-sidecar-port", "gateway-sidecar-ops-port"
DEFAULT_PORT, DEFAULT_OPS_PORT = 15080, 15090
MAX_UID = 128


@dataclass(frozen=True, slots=True)
class SidecarTemplate:
    """What every injected sidecar gets (the control plane's --sidecar-* flags)."""

    image: str
    control_plane: str  # the gRPC address data planes stream from
    cluster: str
    token_secret: str = "ai-gateway"  # a Secret in the pod's namespace with dataplane-token


def review(document: Any, template: SidecarTemplate) -> dict[str, Any]:
    """The AdmissionReview answering ``document``; ValueError when it is not a review."""
    if not isinstance(document, dict) or document.get("kind") != "AdmissionReview":
        raise ValueError("kind: expected an AdmissionReview")
    if document.get("apiVersion") != "admission.k8s.io/v1":
        raise ValueError("apiVersion: expected admission.k8s.io/v1")
    request = document.get("request")
    if not isinstance(request, dict):
        raise ValueError("request: missing")
    uid = request.get("uid")
    if not isinstance(uid, str) or not 0 < len(uid) <= MAX_UID:
        raise ValueError(f"request.uid: expected a string of 1-{MAX_UID} characters")
    kind = request.get("kind") or {}
    pod = request.get("object")
    if not isinstance(kind, dict) or kind.get("kind") != "Pod" or not isinstance(pod, dict):
        raise ValueError("request.kind: expected a Pod, with request.object")
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if request.get("operation", "CREATE") == "CREATE":
        patch, warning = _patch(pod, template)
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        if warning:
            response["warnings"] = [warning]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def _patch(pod: dict[str, Any], template: SidecarTemplate) -> tuple[list[dict[str, Any]], str]:
    metadata = _object(pod, "metadata")
    labels, annotations = _object(metadata, "labels"), _object(metadata, "annotations")
    if not any(str(labels.get(p + INJECT, "")).lower() == "true" for p in PREFIXES):
        return [], ""
    containers = _object(pod, "spec").get("containers")
    containers = containers if isinstance(containers, list) else []
    if not containers or any(
        isinstance(c, dict) and c.get("name") == CONTAINER for c in containers
    ):
        return [], ""
    used = {
        port.get("containerPort")
        for container in containers
        if isinstance(container, dict) and isinstance(container.get("ports") or [], list)
        for port in container.get("ports") or []
        if isinstance(port, dict) and isinstance(port.get("containerPort"), int)
    }
    try:
        listen = _port(annotations, SIDECAR_PORT, DEFAULT_PORT)
        ops = _port(annotations, SIDECAR_OPS_PORT, DEFAULT_OPS_PORT)
        app = _port(annotations, "gateway-port", _first_port(containers))
    except ValueError as exc:
        return [], f"ai-gateway sidecar not added: {exc}"
    taken = sorted(p for p in (listen, ops) if p in used or p == app)
    taken += [listen] if listen == ops else []
    if taken:
        return [], (
            f"ai-gateway sidecar not added: port {taken[0]} is in use in the pod; set "
            f"{PREFIXES[0]}{SIDECAR_PORT} and {PREFIXES[0]}{SIDECAR_OPS_PORT} to free ports"
        )
    patch: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/containers/-", "value": _container(template, listen, ops, app)}
    ]
    if "annotations" in metadata:
        path, value = "/metadata/annotations/aimlops~1gateway-injected", "true"
        patch.append({"op": "add", "path": path, "value": value})
    else:
        marked = {"aimlops/gateway-injected": "true"}
        patch.append({"op": "add", "path": "/metadata/annotations", "value": marked})
    return patch, ""


def _container(template: SidecarTemplate, listen: int, ops: int, app: int) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": template.image,
        "command": ["ai-gateway-data-plane"],
        "args": [
            f"--control-plane={template.control_plane}",
            f"--cluster={template.cluster}",
            f"--listen=0.0.0.0:{listen}",
            f"--ops-listen=0.0.0.0:{ops}",
            f"--sidecar-app=http://127.0.0.1:{app}",
            "--no-api-forward",
            "--cache-dir=/tmp/ai-gateway-cache",
        ],
        "env": [_token_env(template.token_secret), _NODE_ID_ENV],
        "ports": [
            {"name": "aigw-proxy", "containerPort": listen},
            {"name": "aigw-ops", "containerPort": ops},
        ],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": ops}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` when it is a JSON object, else an empty one (the pod is anyone's)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


_NODE_ID_ENV = {
    "name": "AI_GATEWAY_NODE_ID",
    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
}


def _token_env(secret: str) -> dict[str, Any]:
    reference = {"name": secret, "key": "dataplane-token", "optional": True}
    return {"name": "AI_GATEWAY_DATAPLANE_TOKEN", "valueFrom": {"secretKeyRef": reference}}


def _port(annotations: dict[str, Any], key: str, default: int | None) -> int:
    for prefix in PREFIXES:
        text = annotations.get(prefix + key)
        if isinstance(text, str):
            text = text.strip()
            if not (text.isascii() and text.isdigit() and 0 < int(text) < 65_536):
                raise ValueError(f"{PREFIXES[0]}{key} {text[:32]!r}: give a port from 1 to 65535")
            return int(text)
    if default is None:
        raise ValueError(f"the pod declares no container port: set {PREFIXES[0]}gateway-port")
    return default


def _first_port(containers: list[Any]) -> int | None:
    for container in containers:
        for port in (container.get("ports") or []) if isinstance(container, dict) else []:
            number = port.get("containerPort") if isinstance(port, dict) else None
            if isinstance(number, int) and 0 < number < 65_536:
                return number
    return None
