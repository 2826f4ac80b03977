"""Data-plane settings: every flag has an ``AI_GATEWAY_*`` environment twin."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from data_plane.proxy.client_ip import parse_networks


@dataclass(frozen=True, slots=True)
class DataPlaneSettings:
    control_plane: str
    cluster: str
    listen: tuple[str, int]
    ops_listen: tuple[str, int]
    cache_dir: Path
    workers: int
    node_id: str
    admin_url: str | None  # None: /api/v1 is not forwarded
    max_body_bytes: int
    log_level: str
    ready_file: str | None
    redis_url: str | None = None
    rate_limit_failure: str = "open"
    trusted_proxies: tuple[str, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    upstream_ca: str | None = None
    control_plane_ca: str | None = None
    token: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ejection_seconds: float = 30.0
    max_requests_per_target: int = 1024
    max_concurrency: int = 10_000
    access_log: bool = True
    access_log_buffer: int = 10_000
    request_head_timeout: float = 10.0
    keepalive_timeout: float = 60.0
    max_connections: int | None = None  # None: from the open-files limit (connection_limits)
    upstream_idle_timeout: float = 60.0
    jwks_fetch_timeout: float = 5.0
    jwks_refetch_cooldown: float = 30.0
    dns_resolver: tuple[str, int] | None = None  # None: the system's resolver
    dns_refresh_seconds: float = 5.0


def host_port(address: str, flag: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SystemExit(f"Error: {flag} '{address}' must be HOST:PORT, like 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> DataPlaneSettings:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="ai-gateway-data-plane",
        description="Proxies client traffic to AI backends, configured by the control plane.",
    )
    add = parser.add_argument
    add(
        "--control-plane",
        default=env("AI_GATEWAY_CONTROL_PLANE", "127.0.0.1:50051"),
        help="control-plane gRPC address (AI_GATEWAY_CONTROL_PLANE)",
    )
    add("--cluster", default=env("AI_GATEWAY_CLUSTER", "default"), help="AI_GATEWAY_CLUSTER")
    add(
        "--listen",
        default=env("AI_GATEWAY_LISTEN", "0.0.0.0:8080"),
        help="proxy listener (AI_GATEWAY_LISTEN)",
    )
    add(
        "--ops-listen",
        default=env("AI_GATEWAY_OPS_LISTEN", "127.0.0.1:9901"),
        help="/healthz, /readyz and /metrics (AI_GATEWAY_OPS_LISTEN)",
    )
    add(
        "--cache-dir",
        default=env("AI_GATEWAY_CACHE_DIR", ".ai-gateway/cache"),
        help="where the last applied snapshot is kept (AI_GATEWAY_CACHE_DIR)",
    )
    add(
        "--workers",
        type=int,
        default=int(env("AI_GATEWAY_WORKERS", "1")),
        help="processes sharing the listen port (AI_GATEWAY_WORKERS)",
    )
    add(
        "--node-id",
        default=env("AI_GATEWAY_NODE_ID", f"{socket.gethostname()}-{os.getpid()}"),
        help="this data plane's name at the control plane (AI_GATEWAY_NODE_ID)",
    )
    add(
        "--admin-url",
        default=env("AI_GATEWAY_ADMIN_URL"),
        help="control-plane REST URL that /api/v1 is forwarded to "
        "(AI_GATEWAY_ADMIN_URL; default http://<control-plane host>:8081)",
    )
    add(
        "--no-api-forward",
        action="store_true",
        default=_flag(env("AI_GATEWAY_NO_API_FORWARD", "false")),
        help="do not forward /api/v1 to the control plane (AI_GATEWAY_NO_API_FORWARD)",
    )
    add(
        "--max-body-bytes",
        type=int,
        default=int(env("AI_GATEWAY_MAX_BODY_BYTES", str(16 << 20))),
        help="larger request bodies get 413 (AI_GATEWAY_MAX_BODY_BYTES)",
    )
    add(
        "--log-level",
        default=env("AI_GATEWAY_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="AI_GATEWAY_LOG_LEVEL",
    )
    add(
        "--ready-file",
        default=env("AI_GATEWAY_READY_FILE"),
        help="write the bound ports here as JSON once serving (AI_GATEWAY_READY_FILE)",
    )
    add(
        "--redis-url",
        default=env("AI_GATEWAY_REDIS_URL"),
        help="share rate-limit counts through this Redis (AI_GATEWAY_REDIS_URL); default: per process",
    )
    add(
        "--rate-limit-failure",
        default=env("AI_GATEWAY_RATE_LIMIT_FAILURE", "open"),
        choices=["open", "closed"],
        help="when Redis fails: count locally (open) or refuse (closed) (AI_GATEWAY_RATE_LIMIT_FAILURE)",
    )
    add(
        "--trusted-proxies",
        default=env("AI_GATEWAY_TRUSTED_PROXIES", ""),
        help="comma-separated networks whose X-Forwarded-For is believed (AI_GATEWAY_TRUSTED_PROXIES)",
    )
    add(
        "--tls-cert",
        default=env("AI_GATEWAY_TLS_CERT"),
        help="serve HTTPS with this PEM certificate chain, reloaded when it changes (AI_GATEWAY_TLS_CERT)",
    )
    add(
        "--tls-key",
        default=env("AI_GATEWAY_TLS_KEY"),
        help="its PEM private key (AI_GATEWAY_TLS_KEY)",
    )
    add(
        "--upstream-ca",
        default=env("AI_GATEWAY_UPSTREAM_CA"),
        help="verify HTTPS backends against this CA bundle instead of the system store (AI_GATEWAY_UPSTREAM_CA)",
    )
    add(
        "--control-plane-ca",
        default=env("AI_GATEWAY_CONTROL_PLANE_CA"),
        help="connect to the control plane over TLS, trusting this CA (AI_GATEWAY_CONTROL_PLANE_CA)",
    )
    add(
        "--token",
        default=env("AI_GATEWAY_DATAPLANE_TOKEN"),
        help="the control plane's --dataplane-token (AI_GATEWAY_DATAPLANE_TOKEN)",
    )
    add(
        "--client-cert",
        default=env("AI_GATEWAY_CLIENT_CERT"),
        help="certificate presented to the control plane (mutual TLS) (AI_GATEWAY_CLIENT_CERT)",
    )
    add(
        "--client-key", default=env("AI_GATEWAY_CLIENT_KEY"), help="its key (AI_GATEWAY_CLIENT_KEY)"
    )
    add(
        "--ejection-seconds",
        type=float,
        default=float(env("AI_GATEWAY_EJECTION_SECONDS", "30")),
        help="base time a failing backend is ejected for; grows per ejection, capped at 10x "
        "(AI_GATEWAY_EJECTION_SECONDS)",
    )
    add(
        "--max-requests-per-target",
        type=int,
        default=int(env("AI_GATEWAY_MAX_REQUESTS_PER_TARGET", "1024")),
        help="circuit breaker: requests in flight to one backend before it takes no more "
        "(AI_GATEWAY_MAX_REQUESTS_PER_TARGET)",
    )
    add(
        "--dns-resolver",
        default=env("AI_GATEWAY_DNS_RESOLVER"),
        help="HOST[:PORT] of the DNS server that resolves hostname targets; default: the "
        "system's resolver (/etc/hosts, /etc/resolv.conf) (AI_GATEWAY_DNS_RESOLVER)",
    )
    add(
        "--dns-refresh-seconds",
        type=float,
        default=float(env("AI_GATEWAY_DNS_REFRESH_SECONDS", "5")),
        help="how often hostname targets are resolved again; each address is a target "
        "(AI_GATEWAY_DNS_REFRESH_SECONDS)",
    )
    add(
        "--max-concurrency",
        type=int,
        default=int(env("AI_GATEWAY_MAX_CONCURRENCY", "10000")),
        help="requests in flight in this process before new ones get 503 (AI_GATEWAY_MAX_CONCURRENCY)",
    )
    add(
        "--no-access-log",
        action="store_true",
        default=_flag(env("AI_GATEWAY_NO_ACCESS_LOG", "false")),
        help="do not write a JSON line per request to stderr (AI_GATEWAY_NO_ACCESS_LOG)",
    )
    add(
        "--access-log-buffer",
        type=int,
        default=int(env("AI_GATEWAY_ACCESS_LOG_BUFFER", "10000")),
        help="access-log lines waiting for a slow reader before new ones are dropped and "
        "counted (AI_GATEWAY_ACCESS_LOG_BUFFER)",
    )
    add(
        "--request-head-timeout",
        type=float,
        default=float(env("AI_GATEWAY_REQUEST_HEAD_TIMEOUT", "10")),
        help="seconds a client has to send a whole request head, from its connection or its "
        "first byte; then 408 and close (AI_GATEWAY_REQUEST_HEAD_TIMEOUT)",
    )
    add(
        "--keepalive-timeout",
        type=float,
        default=float(env("AI_GATEWAY_KEEPALIVE_TIMEOUT", "60")),
        help="seconds an idle kept-alive client connection stays open (AI_GATEWAY_KEEPALIVE_TIMEOUT)",
    )
    add(
        "--max-connections",
        type=int,
        default=int(env("AI_GATEWAY_MAX_CONNECTIONS", "0")) or None,
        help="client connections open in this process before accepting pauses; default: a "
        "third of the open-files limit, at most 100000 (AI_GATEWAY_MAX_CONNECTIONS)",
    )
    add(
        "--upstream-idle-timeout",
        type=float,
        default=float(env("AI_GATEWAY_UPSTREAM_IDLE_TIMEOUT", "60")),
        help="seconds a kept-alive connection to a backend may sit idle before it is closed "
        "(AI_GATEWAY_UPSTREAM_IDLE_TIMEOUT)",
    )
    add(
        "--jwks-fetch-timeout",
        type=float,
        default=float(env("AI_GATEWAY_JWKS_FETCH_TIMEOUT", "5")),
        help="seconds a JWT provider's key set (jwksUrl) may take to arrive "
        "(AI_GATEWAY_JWKS_FETCH_TIMEOUT)",
    )
    add(
        "--jwks-refetch-cooldown",
        type=float,
        default=float(env("AI_GATEWAY_JWKS_REFETCH_COOLDOWN", "30")),
        help="a token with an unknown kid fetches the key set again at most this often, "
        "seconds (AI_GATEWAY_JWKS_REFETCH_COOLDOWN)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.jwks_fetch_timeout <= 60 or not 0 < args.jwks_refetch_cooldown <= 3600:
        raise SystemExit(
            "Error: --jwks-fetch-timeout (up to 60) and --jwks-refetch-cooldown (up to 3600) "
            "must be positive seconds"
        )
    if args.access_log_buffer < 1:
        raise SystemExit("Error: --access-log-buffer must be at least 1")
    if not 0 < args.request_head_timeout <= 3600 or not 0 < args.keepalive_timeout <= 86_400:
        raise SystemExit(
            "Error: --request-head-timeout (up to 3600) and --keepalive-timeout (up to 86400) "
            "must be positive seconds"
        )
    if args.max_connections is not None and args.max_connections < 1:
        raise SystemExit("Error: --max-connections must be at least 1")
    if args.max_requests_per_target < 1 or args.max_concurrency < 1:
        raise SystemExit(
            "Error: --max-requests-per-target and --max-concurrency must be at least 1"
        )
    if args.ejection_seconds <= 0:
        raise SystemExit("Error: --ejection-seconds must be positive")
    if args.dns_refresh_seconds <= 0:
        raise SystemExit("Error: --dns-refresh-seconds must be positive")
    if bool(args.client_cert) != bool(args.client_key):
        raise SystemExit("Error: --client-cert and --client-key go together")
    if args.client_cert and not args.control_plane_ca:
        raise SystemExit("Error: --client-cert needs --control-plane-ca (mutual TLS runs over TLS)")
    if args.control_plane_ca and not Path(args.control_plane_ca).is_file():
        raise SystemExit(
            f"Error: --control-plane-ca '{args.control_plane_ca}' is not a readable file"
        )
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("Error: --tls-cert and --tls-key go together")
    for flag, value in (
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
        ("--upstream-ca", args.upstream_ca),
    ):
        if value and not Path(value).is_file():
            raise SystemExit(f"Error: {flag} '{value}' is not a readable file")
    try:
        trusted = tuple(parse_networks(args.trusted_proxies))
    except ValueError as exc:
        raise SystemExit(f"Error: --trusted-proxies: {exc}") from None
    if args.workers < 1:
        raise SystemExit("Error: --workers must be at least 1")
    if args.max_body_bytes < 1:
        raise SystemExit("Error: --max-body-bytes must be positive")
    cp_host, _ = host_port(args.control_plane, "--control-plane")
    admin_url = None
    if not args.no_api_forward:
        admin_url = (
            args.admin_url or f"http://{cp_host if cp_host != '0.0.0.0' else '127.0.0.1'}:8081"
        )
    return DataPlaneSettings(
        control_plane=args.control_plane,
        cluster=args.cluster,
        listen=host_port(args.listen, "--listen"),
        ops_listen=host_port(args.ops_listen, "--ops-listen"),
        cache_dir=Path(args.cache_dir),
        workers=args.workers,
        node_id=args.node_id,
        admin_url=admin_url.rstrip("/") if admin_url else None,
        max_body_bytes=args.max_body_bytes,
        log_level=args.log_level,
        ready_file=args.ready_file,
        redis_url=args.redis_url,
        rate_limit_failure=args.rate_limit_failure,
        trusted_proxies=trusted,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        upstream_ca=args.upstream_ca,
        control_plane_ca=args.control_plane_ca,
        token=args.token,
        client_cert=args.client_cert,
        client_key=args.client_key,
        ejection_seconds=args.ejection_seconds,
        max_requests_per_target=args.max_requests_per_target,
        max_concurrency=args.max_concurrency,
        access_log=not args.no_access_log,
        access_log_buffer=args.access_log_buffer,
        request_head_timeout=args.request_head_timeout,
        keepalive_timeout=args.keepalive_timeout,
        max_connections=args.max_connections,
        upstream_idle_timeout=args.upstream_idle_timeout,
        jwks_fetch_timeout=args.jwks_fetch_timeout,
        jwks_refetch_cooldown=args.jwks_refetch_cooldown,
        dns_resolver=host_port(
            args.dns_resolver if ":" in args.dns_resolver else f"{args.dns_resolver}:53",
            "--dns-resolver",
        )
        if args.dns_resolver
        else None,
        dns_refresh_seconds=args.dns_refresh_seconds,
    )
