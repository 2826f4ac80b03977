"""Pod discovery in the control-plane process: its Kubernetes client, Lease and watch,
started and stopped with the process (``--kubernetes`` or ``--kubeconfig``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from pathlib import Path

from kubernetes_asyncio import client, config

from control_plane.kubernetes.leader_lease import LeaderLease
from control_plane.kubernetes.pod_backends import DiscoveredBackend
from control_plane.kubernetes.pod_discovery import PodDiscovery
from control_plane.settings import ControlPlaneSettings
from control_plane.store.config_store import ConfigStore

log = logging.getLogger("ai_gateway.control_plane.kubernetes")

LEASE_NAME = "ai-gateway-discovery"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubernetesDiscovery:
    def __init__(self, api: client.ApiClient, lease: LeaderLease, pods: PodDiscovery) -> None:
        self._api = api
        self.lease = lease
        self.pods = pods
        self._tasks = [
            asyncio.create_task(lease.run(), name="kubernetes-lease"),
            asyncio.create_task(pods.run(), name="kubernetes-pods"),
        ]

    @classmethod
    async def start(cls, settings: ControlPlaneSettings, store: ConfigStore) -> KubernetesDiscovery:
        configuration = client.Configuration()
        if settings.kubeconfig:
            await config.load_kube_config(
                config_file=settings.kubeconfig, client_configuration=configuration
            )
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except config.ConfigException as exc:
                raise SystemExit(
                    f"Error: --kubernetes: not in a pod with a service account ({exc}); "
                    "outside a cluster, give --kubeconfig"
                ) from None
        api = client.ApiClient(configuration)
        cluster = settings.kubernetes_cluster or settings.cluster
        await store.ensure_cluster(cluster)
        namespace = settings.kubernetes_lease_namespace or _own_namespace()
        identity = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        lease = LeaderLease(
            api, namespace, LEASE_NAME, identity, duration=settings.kubernetes_lease_seconds
        )
        written = (n.strip() for n in settings.kubernetes_namespaces.split(","))
        namespaces = tuple(dict.fromkeys(n for n in written if n))  # each once
        pods = PodDiscovery(
            api,
            functools.partial(_store, store, cluster),
            namespaces,
            settings.kubernetes_label_selector,
            lease,
        )
        log.info(
            "discovering backends from pods annotated aimlops/gateway=true in %s, for cluster "
            "%s (lease %s/%s as %s)",
            ", ".join(namespaces) or "every namespace",
            cluster,
            namespace,
            LEASE_NAME,
            identity,
        )
        return cls(api, lease, pods)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.lease.release()
        await self._api.close()


async def _store(store: ConfigStore, cluster: str, backends: list[DiscoveredBackend]) -> None:
    revision = await store.replace_discovered(cluster, backends)
    if revision is not None:
        log.info("discovered backends stored: %d pod(s), revision %d", len(backends), revision)


def _own_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
