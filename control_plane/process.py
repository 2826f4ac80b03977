"""The control-plane process: store, snapshot watcher, REST and gRPC, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import REGISTRY

from control_plane.admin.app import build_admin_app
from control_plane.admin_service import AdminService
from control_plane.domain.config import check_cluster_name
from control_plane.kubernetes.injection_webhook import build_webhook_app, webhook_tls
from control_plane.kubernetes.runner import KubernetesDiscovery
from control_plane.kubernetes.sidecar_injection import SidecarTemplate
from control_plane.log_format import set_level
from control_plane.metrics import STORE_ERRORS, FleetCollector, register_fleet
from control_plane.rpc.admin import AdminRpcService
from control_plane.rpc.dataplane_access import DataPlaneAccess, ScopedToken, read_tokens_file
from control_plane.rpc.discovery import ConfigDiscoveryService
from control_plane.rpc.server import start_grpc_server
from control_plane.rpc.telemetry import TelemetryService
from control_plane.settings import MIN_KEY_LENGTH, ControlPlaneSettings, split_host_port
from control_plane.snapshot.cache import SnapshotCache
from control_plane.snapshot.watcher import RevisionWatcher
from control_plane.store.config_store import ConfigStore
from control_plane.store.database import create_engine, migrate
from control_plane.store.dataplane_store import DATAPLANE_RETENTION_SECONDS, DataPlaneStore
from control_plane.store.telemetry_store import TelemetryStore
from control_plane.store.webhook_outbox import WebhookOutbox
from control_plane.webhooks.dispatcher import WebhookDispatcher

log = logging.getLogger("ai_gateway.control_plane")


def _load_tls(
    settings: ControlPlaneSettings,
) -> tuple[tuple[bytes, bytes] | None, ssl.SSLContext | None]:
    """The key and chain for gRPC, and a server context for REST; (None, None) without TLS."""
    if not (settings.tls_cert and settings.tls_key):
        return None, None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return (Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes()), context


def _read_optional(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def _dataplane_access(settings: ControlPlaneSettings) -> DataPlaneAccess:
    tokens = []
    if settings.dataplane_token:
        tokens.append(ScopedToken(settings.dataplane_token.encode(), frozenset({settings.cluster})))
    if settings.dataplane_tokens_file:
        try:
            tokens.extend(read_tokens_file(settings.dataplane_tokens_file))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"Error: --dataplane-tokens-file: {exc}") from None
    access = DataPlaneAccess(tuple(tokens), bool(settings.client_ca), settings.insecure_dataplanes)
    host, _ = split_host_port(settings.grpc_listen, "--grpc-listen")
    if not tokens and not settings.client_ca and not _is_loopback(host):
        log.warning(
            "gRPC listens on %s without a data-plane token or client CA: only data planes on "
            "this machine may stream snapshots%s",
            settings.grpc_listen,
            " (--insecure-dataplanes: any caller may)" if settings.insecure_dataplanes else "",
        )
    return access


async def _forget_gone_dataplanes(dataplanes: DataPlaneStore, every: float = 60.0) -> None:
    while True:
        try:
            forgotten = await dataplanes.prune(time.time() - DATAPLANE_RETENTION_SECONDS)
        except Exception as exc:  # the store may be down for a moment; tried again later
            STORE_ERRORS.labels("poll").inc()
            log.warning("cannot prune data-plane records: %s", exc)
        else:
            if forgotten:
                log.info("forgot %d data planes not heard of for an hour", forgotten)
        await asyncio.sleep(every)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass
class ControlPlane:
    settings: ControlPlaneSettings
    admin_port: int = 0
    grpc_port: int = 0
    webhook_port: int = 0  # the sidecar injection webhook's, when served
    _runner: web.AppRunner | None = None
    _grpc: grpc.aio.Server | None = None
    _watcher: RevisionWatcher | None = None
    _closers: list[object] = field(default_factory=list)

    async def start(self) -> None:
        settings = self.settings
        try:
            check_cluster_name(settings.cluster)
        except ValueError as exc:
            raise SystemExit(f"Error: --cluster: {exc}") from None
        if len(settings.api_key) < MIN_KEY_LENGTH:
            log.warning(
                "the admin API key is shorter than %d characters; use a long random one "
                "outside a demo (openssl rand -hex 24)",
                MIN_KEY_LENGTH,
            )
        engine = create_engine(settings.database_url)
        self._engine = engine
        schema = await migrate(engine)
        log.info("database schema at revision %s", schema)
        store = ConfigStore(engine, settings.history_revisions)
        dataplanes = DataPlaneStore(engine)
        self._dataplanes = dataplanes
        cache = SnapshotCache()
        self._watcher = RevisionWatcher(
            store, cache, interval=settings.poll_interval, on_settings=self._follow_settings
        )
        telemetry = TelemetryStore(engine, interval=settings.telemetry_interval)
        outbox = WebhookOutbox(engine)
        service = AdminService(
            store, dataplanes, self._watcher, settings.cluster, telemetry, outbox
        )
        await store.ensure_cluster(settings.cluster)
        await self._watcher.start()

        access = _dataplane_access(settings)
        discovery = ConfigDiscoveryService(cache, self._watcher, dataplanes, access, outbox)
        self._discovery = discovery
        self._pruner = asyncio.create_task(_forget_gone_dataplanes(dataplanes), name="dp-prune")
        self._webhooks = WebhookDispatcher(outbox, secret=settings.webhook_secret)
        await self._webhooks.start()
        self._collector = register_fleet(
            FleetCollector(lambda: dict(discovery.connected), lambda: dict(discovery.lags))
        )
        tls_files, tls = _load_tls(settings)
        client_ca = _read_optional(settings.client_ca)
        self._grpc, self.grpc_port = await start_grpc_server(
            settings.grpc_listen,
            discovery,
            AdminRpcService(service, settings.api_key, settings.auth_failures_per_minute),
            TelemetryService(telemetry, access, self._watcher.exists),
            tls_files,
            client_ca,
        )
        self._runner = web.AppRunner(
            build_admin_app(
                service,
                settings.api_key,
                settings.trusted_proxies,
                settings.auth_failures_per_minute,
            ),
            access_log=None,
        )
        await self._runner.setup()
        host, port = split_host_port(settings.admin_listen, "--listen")
        sock = socket.create_server((host, port), reuse_port=False)
        site = web.SockSite(self._runner, sock, ssl_context=tls)
        await site.start()
        self.admin_port = sock.getsockname()[1]
        log.info(
            "control plane serving: REST on %s:%d, gRPC on port %d, cluster %s",
            host,
            self.admin_port,
            self.grpc_port,
            settings.cluster,
        )
        if settings.sidecar_webhook_listen:
            await self._serve_injection_webhook(settings)
        if settings.kubernetes or settings.kubeconfig:
            self._kubernetes = await KubernetesDiscovery.start(settings, store)
        if settings.ready_file:
            self._write_ready_file(settings.ready_file)

    async def _serve_injection_webhook(self, settings: ControlPlaneSettings) -> None:
        assert settings.sidecar_webhook_listen and settings.sidecar_webhook_cert
        assert settings.sidecar_webhook_key
        template = SidecarTemplate(
            image=settings.sidecar_image,
            control_plane=settings.sidecar_control_plane,
            cluster=settings.sidecar_cluster or settings.cluster,
            token_secret=settings.sidecar_token_secret,
        )
        self._webhook_runner = web.AppRunner(build_webhook_app(template), access_log=None)
        await self._webhook_runner.setup()
        host, port = split_host_port(settings.sidecar_webhook_listen, "--sidecar-webhook-listen")
        sock = socket.create_server((host, port))
        tls = webhook_tls(settings.sidecar_webhook_cert, settings.sidecar_webhook_key)
        await web.SockSite(self._webhook_runner, sock, ssl_context=tls).start()
        self.webhook_port = sock.getsockname()[1]
        log.info(
            "sidecar injection webhook serving on %s:%d (POST /mutate)", host, self.webhook_port
        )

    def _follow_settings(self, cluster: str, cluster_settings: dict[str, Any]) -> None:
        """The control plane logs at its own cluster's ``logLevel`` once one is set
        (``ai-gateway-cli config --log-level debug``), like that cluster's data planes."""
        level = cluster_settings.get("logLevel")
        if cluster == self.settings.cluster and isinstance(level, str):
            set_level(level)

    def _write_ready_file(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as handle:
            json.dump(
                {
                    "admin_port": self.admin_port,
                    "grpc_port": self.grpc_port,
                    "webhook_port": self.webhook_port,
                    "pid": os.getpid(),
                },
                handle,
            )
        os.replace(handle.name, path)

    async def stop(self) -> None:
        if hasattr(self, "_kubernetes"):
            await self._kubernetes.stop()  # first: the Lease goes to another replica at once
        if hasattr(self, "_pruner"):
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        if hasattr(self, "_collector"):
            REGISTRY.unregister(self._collector)
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if hasattr(self, "_discovery"):
            await self._discovery.drain()  # before the store closes
        if hasattr(self, "_dataplanes"):
            await self._dataplanes.replies.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if hasattr(self, "_webhook_runner"):
            await self._webhook_runner.cleanup()
        if self._watcher is not None:
            await self._watcher.stop()
        if hasattr(self, "_webhooks"):
            await self._webhooks.stop()
        if hasattr(self, "_engine"):
            await self._engine.dispose()
