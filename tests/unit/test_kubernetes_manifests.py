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


def documents(directory: Path = MANIFESTS) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob("*.yaml")):
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
    if "webhook" in ports:  # served once the sidecar overlay's ConfigMap sets its listener
        injector = _sidecar_config()
        assert _port(injector["AI_GATEWAY_SIDECAR_WEBHOOK_LISTEN"]) == ports["webhook"]
        listening.add(ports["webhook"])
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
SIDECAR = MANIFESTS / "sidecar"
CRD_GROUPS = ("cert-manager.io/",)  # not in the Kubernetes schema: checked by their own tests


def _sidecar_config() -> dict[str, str]:
    (config,) = [d for d in documents(SIDECAR) if d["kind"] == "ConfigMap"]
    return dict(config["data"])


@pytest.mark.parametrize(
    "document",
    [d for d in [*documents(), *documents(SIDECAR)] if not d["apiVersion"].startswith(CRD_GROUPS)],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_every_manifest_validates_against_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("directory", "kinds"),
    [
        (MANIFESTS, {"ServiceAccount", "ClusterRole", "Role", "Deployment"}),
        (SIDECAR, {"MutatingWebhookConfiguration", "Service", "Certificate", "ConfigMap"}),
    ],
    ids=["standalone", "sidecar"],
)
def test_kustomize_builds_the_manifests(directory: Path, kinds: set[str]) -> None:
    if shutil.which("kubectl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is not installed: the kustomization cannot be built")
        pytest.skip("kubectl is not installed")
    built = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    assert kinds <= {d["kind"] for d in yaml.safe_load_all(built.stdout) if d}


def test_the_injection_webhook_is_create_only_label_selected_and_ignorable() -> None:
    (config,) = [d for d in documents(SIDECAR) if d["kind"] == "MutatingWebhookConfiguration"]
    (webhook,) = config["webhooks"]
    assert webhook["failurePolicy"] == "Ignore" and webhook["sideEffects"] == "None"
    assert webhook["objectSelector"] == {"matchLabels": {"aimlops/gateway-inject": "true"}}
    assert [rule["operations"] for rule in webhook["rules"]] == [["CREATE"]]
    service = webhook["clientConfig"]["service"]
    assert service["path"] == "/mutate" and service["name"] == "ai-gateway-sidecar-injector"
    certificate = next(d for d in documents(SIDECAR) if d["kind"] == "Certificate")
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"ai-gateway/{certificate['metadata']['name']}"
    )
    assert f"{service['name']}.ai-gateway.svc" in certificate["spec"]["dnsNames"]


def test_the_injector_settings_are_the_control_plane_s_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each variable of the sidecar ConfigMap is a control-plane setting that parses."""
    monkeypatch.setenv("AI_GATEWAY_API_KEY", "from-the-cluster-x" * 2)
    for name, value in _sidecar_config().items():
        if name.endswith(("_CERT", "_KEY")):  # mounted from the Secret in the cluster
            value = str(tmp_path / name)
            Path(value).write_text("pem")
        monkeypatch.setenv(name, value)
    settings = control_plane_args([])
    assert settings.sidecar_webhook_listen == "0.0.0.0:8443"
    assert settings.sidecar_control_plane == "ai-gateway-control-plane.ai-gateway.svc:50051"


def test_the_control_plane_reads_pods_and_holds_its_lease_with_no_more_rights() -> None:
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in documents()}
    pods = by_kind[("ClusterRole", "ai-gateway-pod-discovery")]["rules"]
    assert pods == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    lease = by_kind[("Role", "ai-gateway-discovery-lease")]["rules"]
    assert {verb for rule in lease for verb in rule["verbs"]} == {"create", "get", "update"}
    assert all(rule["resources"] == ["leases"] for rule in lease)
    deployment = by_kind[("Deployment", "ai-gateway-control-plane")]["spec"]["template"]["spec"]
    assert deployment["serviceAccountName"] == "ai-gateway-control-plane"
