"""The Kubernetes manifests start the processes with flags they accept, on the ports they probe."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from control_plane.settings import parse_args as control_plane_args
from data_plane.settings import parse_args as data_plane_args

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
PARSERS = {
    "ai-gateway-control-plane": control_plane_args,
    "ai-gateway-data-plane": data_plane_args,
}


def documents() -> Iterator[dict[str, Any]]:
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] != "Kustomization":
                yield document


def containers() -> Iterator[dict[str, Any]]:
    for document in documents():
        if document["kind"] == "Deployment":
            yield from document["spec"]["template"]["spec"]["containers"]


def test_every_manifest_is_a_kubernetes_object() -> None:
    kinds = [d["kind"] for d in documents()]
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= set(kinds)
    for document in documents():
        assert document.get("apiVersion") and document.get("metadata", {}).get("name")
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    assert all((MANIFESTS / name).is_file() for name in listed)


@pytest.mark.parametrize("container", list(containers()), ids=lambda c: str(c["name"]))
def test_containers_use_real_flags_and_probe_their_ports(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in container.get("env", []):  # values from secrets and fields: a stand-in
        monkeypatch.setenv(variable["name"], str(variable.get("value", "from-the-cluster-x" * 2)))
    (program,) = container["command"]
    settings = PARSERS[program](container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    addresses = [
        getattr(settings, name)
        for name in ("listen", "ops_listen", "admin_listen", "grpc_listen")
        if hasattr(settings, name)
    ]
    listening = {_port(address) for address in addresses}
    assert set(ports.values()) == listening, (ports, listening)
    for probe in ("readinessProbe", "livenessProbe"):
        check = container[probe]
        port = (check.get("httpGet") or check.get("grpc"))["port"]
        assert ports.get(port, port) in listening, (probe, port)


def _port(address: tuple[str, int] | str) -> int:
    """A data plane keeps (host, port); the control plane keeps 'host:port'."""
    return address[1] if isinstance(address, tuple) else int(address.rsplit(":", 1)[1])


def test_services_point_at_named_container_ports() -> None:
    named = {p["name"] for c in containers() for p in c["ports"]}
    for document in documents():
        if document["kind"] == "Service" and document["metadata"]["name"] != "vllm-headless":
            for port in document["spec"]["ports"]:
                assert port["targetPort"] in named, port


KUBERNETES_VERSION = "1.32.0"  # pinned: what the manifests are checked against


@pytest.mark.parametrize(
    "document", list(documents()), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_validates_against_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kustomize_builds_the_manifests() -> None:
    if shutil.which("kubectl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is not installed: the kustomization cannot be built")
        pytest.skip("kubectl is not installed")
    built = subprocess.run(
        ["kubectl", "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(built.stdout) if d]
    assert {"ServiceAccount", "ClusterRole", "Role", "Deployment"} <= set(kinds)


def test_the_control_plane_reads_pods_and_holds_its_lease_with_no_more_rights() -> None:
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in documents()}
    pods = by_kind[("ClusterRole", "ai-gateway-pod-discovery")]["rules"]
    assert pods == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    lease = by_kind[("Role", "ai-gateway-discovery-lease")]["rules"]
    assert {verb for rule in lease for verb in rule["verbs"]} == {"create", "get", "update"}
    assert all(rule["resources"] == ["leases"] for rule in lease)
    deployment = by_kind[("Deployment", "ai-gateway-control-plane")]["spec"]["template"]["spec"]
    assert deployment["serviceAccountName"] == "ai-gateway-control-plane"
