"""One data-plane worker: proxy and ops listeners, the snapshot stream, the cache file."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry

from data_plane.access_log import AccessLog
from data_plane.ai.metrics import flush as flush_ai_series
from data_plane.errors import CacheFileInvalid, SnapshotRejected
from data_plane.filters import compose
from data_plane.filters.admin_throttle import AdminKeyThrottle
from data_plane.logs import count_dropped_lines, set_level
from data_plane.metrics import LOG_LINES_DROPPED, RouteMetrics, forget_targets, register_state
from data_plane.ops.server import build_ops_app
from data_plane.ops.worker_states import multiprocess_registry, publish, shared_directory
from data_plane.proxy.client_connection import ClientServer
from data_plane.proxy.client_ip import ClientAddress
from data_plane.proxy.handler import API_PREFIX, ProxyHandler
from data_plane.proxy.listener import AcceptLoop, default_max_connections, raise_open_files_limit
from data_plane.runtime.chains import ProcessFilters
from data_plane.runtime.compile import (
    ChangedRoutes,
    CompileContext,
    Increment,
    compile_snapshot,
    targets_in_use,
)
from data_plane.runtime.config import RuntimeConfig
from data_plane.runtime.routes import CompiledRoute, RouteTimeouts
from data_plane.security.auth_throttle import FailureThrottle
from data_plane.security.budget_journal import Ledger, reporter_id
from data_plane.security.jwks import JwksFetcher
from data_plane.security.rate_limit import LocalRateLimiter, RateLimiter
from data_plane.security.redis_rate_limit import TIMEOUT as RATE_TIMEOUT
from data_plane.security.redis_rate_limit import RedisRateLimiter
from data_plane.security.redis_scripts import FailureMode, RedisScripts, RedisUse
from data_plane.security.redis_token_ledger import TIMEOUT as TOKEN_TIMEOUT
from data_plane.security.redis_token_ledger import RedisTokenLedger
from data_plane.security.token_ledger import LocalTokenLedger, SettlingLedger
from data_plane.settings import DataPlaneSettings
from data_plane.sync.discovery_client import DiscoveryClient
from data_plane.sync.link import ControlPlaneLink
from data_plane.sync.snapshot_file import cache_path, read_snapshot
from data_plane.sync.telemetry_reporter import TelemetryReporter, fetch_budget_ledger
from data_plane.tls import ReloadingServerContext, client_context
from data_plane.upstream.active_health import ActiveHealthChecker
from data_plane.upstream.check_plan import CheckPlan
from data_plane.upstream.health import HealthRegistry
from data_plane.upstream.load_scraper import LoadPlan, LoadScraper
from data_plane.upstream.pools import UpstreamPools
from data_plane.upstream.resolver import AddressBook, nameserver_lookup, system_lookup
from data_plane.upstream.targets import Target, UpstreamGroup
from protos import snapshot_pb2 as pb

log = logging.getLogger("ai_gateway.data_plane")


def _api_route(admin_url: str, context: CompileContext) -> CompiledRoute:
    """/api/v1/* on the proxy port goes to the control plane's REST API, path unchanged;
    wrong admin keys are throttled here, by the client's address."""
    target = Target.parse(admin_url, 1, 0)
    target = replace(target, pool=context.pools.for_target(target))
    shared = context.filters
    return CompiledRoute(
        id="control-plane-api",
        name="control-plane-api",
        kind="prefix",
        path=API_PREFIX,
        methods=None,
        headers=(),
        hosts=None,
        upstream=UpstreamGroup((target,)),
        timeouts=RouteTimeouts(connect=5.0, first_byte=60.0, idle=60.0, total=None),
        chain=compose([AdminKeyThrottle(FailureThrottle()), *shared.tail()], shared.upstream()),
        metrics=RouteMetrics("control-plane-api"),
    )


def _health_checks(routes: list[CompiledRoute]) -> dict[tuple[str, CheckPlan], Target]:
    """The active checks the routes ask for, by target URL and plan."""
    return _per_target(routes, lambda route: route.health_check)


def _load_scrapes(routes: list[CompiledRoute]) -> dict[tuple[str, LoadPlan], Target]:
    """The model servers ``least-loaded`` routes read, by target URL and plan."""
    return _per_target(routes, lambda route: route.load_plan)


Plan = TypeVar("Plan")


def _per_target(
    routes: list[CompiledRoute], plan_of: Callable[[CompiledRoute], Plan | None]
) -> dict[tuple[str, Plan], Target]:
    wanted: dict[tuple[str, Plan], Target] = {}
    for route in routes:
        plan = plan_of(route)
        if plan is not None:
            for target in route.upstream.targets:
                wanted[(target.url, plan)] = target
    return wanted


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@dataclass
class DataPlane:
    settings: DataPlaneSettings
    worker: int = 0
    proxy_port: int = 0
    ops_port: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _cleanups: list[object] = field(default_factory=list)

    def _node_id(self) -> str:
        base = self.settings.node_id
        return f"{base}-w{self.worker}" if self.settings.workers > 1 else base

    def _compile(
        self, snapshot: pb.Snapshot, changed: ChangedRoutes | None = None
    ) -> RuntimeConfig:
        """``changed``: the snapshot came as changes to the config that serves now, which
        keeps the routes they did not touch."""
        current = self.handler.config
        increment = None
        if changed is not None and current is not None and current.version == changed.base_version:
            increment = Increment(current, changed.ids)
        return compile_snapshot(snapshot, self.context, increment)

    def _apply(self, config: RuntimeConfig) -> None:
        self.applied_at = time.time()
        self.handler.swap(config)
        routes = [*config.routes.all_routes(), *filter(None, [self.handler.api_route])]
        self.checker.reconcile(_health_checks(routes))
        self.load_scraper.reconcile(_load_scrapes(routes))
        targets = targets_in_use(routes)
        in_use = {t.url for t in targets}
        self.health.retain(in_use)
        self.pools.retain(targets, config.compiled_since)
        forget_targets(in_use)
        set_level(config.settings.log_level)
        self._prefetch_keys(config)
        self._snapshot_applied.set()  # its hostname targets are looked up now
        # A big route table is long-lived: keep the cyclic GC from rescanning it on every
        # collection (with 10,000 routes that cost ~15 % of throughput). Old tables are
        # freed by reference counting; unfreeze first so any cycles among them are collected.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def _prefetch_keys(self, config: RuntimeConfig) -> None:
        """Fetch JWKS providers' keys now, so the first token does not wait for them."""
        urls = {p.jwks_url for p in config.source.jwt_providers if p.jwks_url}
        self.jwks.retain(urls)
        for url in urls:
            self.jwks.keys(url).refresh()

    async def start(self) -> None:
        settings = self.settings
        self._upstream_tls = client_context(settings.upstream_ca)
        self.pools = UpstreamPools(self._upstream_tls, settings.upstream_idle_timeout)
        self.jwks = JwksFetcher(  # key caches outlive snapshots
            self._upstream_tls,
            timeout=settings.jwks_fetch_timeout,
            cooldown=settings.jwks_refetch_cooldown,
        )
        self.checker = ActiveHealthChecker()
        self.load_scraper = LoadScraper()
        self.applied_at = 0.0
        self.started_at = time.time()  # with the node id, this process in the budget ledger
        self.access_log = AccessLog(settings.access_log, buffer=settings.access_log_buffer)
        count_dropped_lines(LOG_LINES_DROPPED.inc)
        shared = shared_directory()
        if shared is None:
            self._collector = register_state(self.status)
            self._registry: CollectorRegistry = REGISTRY
        else:  # --workers N: one /metrics for all of them
            self._registry = multiprocess_registry(shared, self.status)
            self._tasks.append(asyncio.create_task(self._publish_state(shared), name="state"))
        # Per target URL, across snapshots.
        self.health = HealthRegistry(settings.ejection_seconds, settings.max_requests_per_target)
        self.addresses = AddressBook(
            nameserver_lookup(*settings.dns_resolver) if settings.dns_resolver else system_lookup
        )
        self._snapshot_applied = asyncio.Event()
        link = ControlPlaneLink.from_files(
            settings.control_plane,
            ca_file=str(settings.control_plane_ca) if settings.control_plane_ca else None,
            token=settings.token,
            client_cert=(settings.client_cert, settings.client_key)
            if settings.client_cert and settings.client_key
            else None,
        )
        # The limiter outlives snapshots: counts survive a config change.
        limiter: RateLimiter = LocalRateLimiter()
        ledger: SettlingLedger = LocalTokenLedger()
        if settings.redis_url:
            failure: FailureMode = "closed" if settings.rate_limit_failure == "closed" else "open"
            self._redis = RedisScripts(settings.redis_url)  # one connection for both
            rates = RedisUse(self._redis, "rate limiting", timeout=RATE_TIMEOUT, failure=failure)
            limiter = RedisRateLimiter(rates, LocalRateLimiter())
            tokens = RedisUse(self._redis, "token limits", timeout=TOKEN_TIMEOUT, failure=failure)
            ledger = self._redis_ledger = RedisTokenLedger(
                tokens,
                LocalTokenLedger(),
                settings.cluster,
                functools.partial(fetch_budget_ledger, link, settings.cluster),
                reporter_id(self._node_id(), self.started_at),
            )
        self.context = CompileContext(
            limiter=limiter,
            ledger=ledger,
            health=self.health,
            addresses=self.addresses,
            jwks=self.jwks,
            pools=self.pools,
            filters=ProcessFilters(max_body_bytes=settings.max_body_bytes),
            sidecar_app=settings.sidecar_app,
            connect_to={(h, p): (a, to) for h, p, a, to in settings.connect_to},
        )
        forward_to = settings.api_forward_url
        api_route = _api_route(forward_to, self.context) if forward_to else None
        self.handler = ProxyHandler(
            api_route,
            ClientAddress(settings.trusted_proxies),
            settings.max_concurrency,
            self.access_log,
        )
        cache_file = cache_path(settings.cache_dir, settings.cluster)
        self.discovery = DiscoveryClient(
            link, settings.cluster, self._node_id(), cache_file, self._apply, self._compile
        )
        await self._load_cache(cache_file)

        reuse = settings.workers > 1
        proxy_sock = _bind(*settings.listen, reuse_port=reuse)
        self.proxy_port = proxy_sock.getsockname()[1]
        tls = None
        if settings.tls_cert and settings.tls_key:
            reloading = ReloadingServerContext(settings.tls_cert, settings.tls_key)
            tls = reloading.context
            self._tasks.append(asyncio.create_task(reloading.watch(), name="tls-reload"))
        open_files = raise_open_files_limit()
        server = ClientServer(
            self.handler,
            head_timeout=settings.request_head_timeout,
            idle_timeout=settings.keepalive_timeout,
            on_close=lambda: self._accepting.closed(),
            handler_cancellation=True,
            access_log=None,
        )
        self._accepting = AcceptLoop(
            proxy_sock,
            server,
            max_connections=settings.max_connections or default_max_connections(open_files),
            tls=tls,
            handshake_timeout=settings.request_head_timeout,
        )
        self._proxy_sock = proxy_sock
        self._lowlevel = server
        self._accept_task = asyncio.create_task(self._accepting.run(), name="accept")

        ops_runner = web.AppRunner(
            build_ops_app(self.ready, self.status, self._registry), access_log=None
        )
        await ops_runner.setup()
        ops_sock = _bind(*settings.ops_listen, reuse_port=reuse)
        self.ops_port = ops_sock.getsockname()[1]
        await web.SockSite(ops_runner, ops_sock).start()
        self._ops_runner = ops_runner

        self._tasks.append(asyncio.create_task(self.discovery.run(), name="snapshot-stream"))
        self._tasks.append(asyncio.create_task(self.pools.expire_idle(), name="idle-upstreams"))
        self._tasks.append(asyncio.create_task(_flush_ai_series(), name="ai-series"))
        self._tasks.append(asyncio.create_task(self._keep_resolving(), name="dns-refresh"))
        reporter = self._reporter = TelemetryReporter(
            link, settings.cluster, self._node_id(), self.status, self.started_at
        )
        self._tasks.append(asyncio.create_task(reporter.run(), name="telemetry"))
        if isinstance(self.context.ledger, LocalTokenLedger):
            fetch = functools.partial(fetch_budget_ledger, link, settings.cluster)
            seeding = _seed_local_budgets(self.context.ledger, fetch)
            self._tasks.append(asyncio.create_task(seeding, name="budget-ledger"))
        log.info(
            "data plane %s serving on %s:%d (ops %s:%d), cluster %s, control plane %s",
            self._node_id(),
            settings.listen[0],
            self.proxy_port,
            settings.ops_listen[0],
            self.ops_port,
            settings.cluster,
            settings.control_plane,
        )
        if settings.ready_file and self.worker == 0:
            self._write_ready_file(settings.ready_file)

    async def _keep_resolving(self) -> None:
        """Look hostname targets up on each new snapshot and every refresh period; when an
        answer changes, the current snapshot is compiled again with the new addresses."""
        failed = -1  # the answers' generation a compile last failed with: not tried again
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.dns_refresh_seconds):
                    await self._snapshot_applied.wait()
            self._snapshot_applied.clear()
            config = self.handler.config
            if config is None:
                continue
            changed = await self.addresses.refresh(config.hostnames)
            generation = self.addresses.generation
            # Also when it was compiled while an answer changed (it read the older one).
            if not changed and generation in (config.addresses_generation, failed):
                continue
            try:
                updated = await asyncio.to_thread(self._compile, config.source)
            except SnapshotRejected as exc:
                log.error("snapshot %s with new target addresses: %s", config.version, exc)
                failed = generation
                continue
            if self.handler.config is config:  # no newer snapshot arrived meanwhile
                self._apply(updated)

    async def _publish_state(self, directory: Path) -> None:
        try:
            while True:
                await asyncio.to_thread(publish, directory, self.status())
                await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(OSError):
                (directory / f"state-{os.getpid()}.json").unlink()

    async def _load_cache(self, cache_file: Path) -> None:
        try:
            snapshot = await asyncio.to_thread(read_snapshot, cache_file)
            config = await asyncio.to_thread(self._compile, snapshot)
        except CacheFileInvalid as exc:
            if await asyncio.to_thread(cache_file.exists):
                log.error("%s", exc)
            else:
                log.info("no cached snapshot yet; waiting for the control plane")
            return
        except SnapshotRejected as exc:
            log.error("the cached snapshot %s cannot be used: %s", cache_file, exc)
            return
        self.discovery.adopt(config)
        log.info("serving cached snapshot %s until the control plane answers", config.version)

    def ready(self) -> bool:
        return self.handler.config is not None

    def _targets_state(self) -> list[dict[str, object]]:
        """Each target's health; a hostname target that does not resolve (and never did)
        is ``unresolved``, not healthy."""
        targets = self.health.snapshot()
        unresolved = self.addresses.unresolved if hasattr(self, "addresses") else set()
        if unresolved:
            for target in targets:
                host = urlsplit(str(target["target"])).hostname
                if host in unresolved and self.addresses.addresses(host) is None:
                    target["state"] = "unresolved"
        return targets

    def status(self) -> dict[str, object]:
        config = self.handler.config
        return {
            "node": self._node_id(),
            "cluster": self.settings.cluster,
            "version": config.version if config else None,
            "routes": config.routes.count if config else 0,
            "controlPlaneConnected": self.discovery.connected,
            "lastError": self.discovery.last_error or None,
            "targets": self._targets_state(),
            "appliedAt": self.applied_at,
            "inFlight": self.handler.in_flight,
            "clientConnections": self._accepting.open if hasattr(self, "_accepting") else 0,
            "logLevel": logging.getLevelName(logging.getLogger().level).lower(),
        }

    def _write_ready_file(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as handle:
            json.dump(
                {"proxy_port": self.proxy_port, "ops_port": self.ops_port, "pid": os.getpid()},
                handle,
            )
        os.replace(handle.name, path)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if hasattr(self, "_accept_task"):
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
            self._proxy_sock.close()
            await self._accepting.stop()
            await self._lowlevel.shutdown(timeout=5)
        if hasattr(self, "_reporter"):
            await self._reporter.last_report()
        if hasattr(self, "_ops_runner"):
            await self._ops_runner.cleanup()
        if hasattr(self, "access_log"):
            self.access_log.close()
        if hasattr(self, "_collector"):
            REGISTRY.unregister(self._collector)
        if hasattr(self, "checker"):
            await self.checker.stop()
        if hasattr(self, "load_scraper"):
            await self.load_scraper.stop()
        if hasattr(self, "pools"):
            self.pools.close()
        if hasattr(self, "_redis_ledger"):
            await self._redis_ledger.drain()
        if hasattr(self, "_redis"):
            await self._redis.close()
        if hasattr(self, "jwks"):
            await self.jwks.close()


async def _flush_ai_series() -> None:
    """The AI series to prometheus-client every second (data_plane.ai.metrics.flush)."""
    while True:
        await asyncio.sleep(1.0)
        flush_ai_series()


async def _seed_local_budgets(
    ledger: LocalTokenLedger, fetch: Callable[[], Awaitable[Ledger]]
) -> None:
    """Without Redis, budget counts live in this process: start them from the control plane's
    ledger (asked every 5 s until it answers, for at most a minute)."""
    for _ in range(12):
        try:
            counts = await fetch()
        except Exception as exc:  # the control plane is not there yet
            log.debug("budget ledger not read yet: %r", exc)
            await asyncio.sleep(5.0)
            continue
        ledger.seed(counts.counts)
        log.info("budget counts from the ledger: %d", len(counts.counts))
        return
    log.warning("budget ledger not read within a minute; budgets count from zero here")
