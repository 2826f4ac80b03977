"""Control-plane settings: every flag has an ``AI_GATEWAY_*`` environment twin."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from control_plane.store.database import DEFAULT_DATABASE_URL
from data_plane.proxy.client_ip import parse_networks

MIN_KEY_LENGTH = 16


@dataclass(frozen=True, slots=True)
class ControlPlaneSettings:
    admin_listen: str = "127.0.0.1:8081"
    grpc_listen: str = "127.0.0.1:50051"
    database_url: str = DEFAULT_DATABASE_URL
    api_key: str = ""
    cluster: str = "default"
    log_level: str = "info"
    ready_file: str | None = None
    poll_interval: float = 0.25
    telemetry_interval: float = 5.0
    webhook_secret: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    dataplane_token: str | None = None
    dataplane_tokens_file: str | None = None
    insecure_dataplanes: bool = False
    client_ca: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    auth_failures_per_minute: int = 10


def split_host_port(address: str, flag: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SystemExit(f"Error: {flag} '{address}' must be HOST:PORT, like 127.0.0.1:8081")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_args(argv: list[str] | None = None) -> ControlPlaneSettings:
    env = os.environ.get
    defaults = ControlPlaneSettings()
    parser = argparse.ArgumentParser(
        prog="ai-gateway-control-plane",
        description="Stores the gateway's configuration and streams it to data planes.",
    )
    parser.add_argument(
        "--listen",
        default=env("AI_GATEWAY_ADMIN_LISTEN", defaults.admin_listen),
        help="REST admin API address (AI_GATEWAY_ADMIN_LISTEN)",
    )
    parser.add_argument(
        "--grpc-listen",
        default=env("AI_GATEWAY_GRPC_LISTEN", defaults.grpc_listen),
        help="gRPC address (AI_GATEWAY_GRPC_LISTEN)",
    )
    parser.add_argument(
        "--database-url",
        default=env("AI_GATEWAY_DATABASE_URL", defaults.database_url),
        help="SQLAlchemy async URL (AI_GATEWAY_DATABASE_URL)",
    )
    parser.add_argument(
        "--api-key",
        default=env("AI_GATEWAY_API_KEY", ""),
        help="admin API key (AI_GATEWAY_API_KEY; prefer the variable)",
    )
    parser.add_argument(
        "--cluster",
        default=env("AI_GATEWAY_CLUSTER", defaults.cluster),
        help="default cluster, created on start (AI_GATEWAY_CLUSTER)",
    )
    parser.add_argument(
        "--log-level",
        default=env("AI_GATEWAY_LOG_LEVEL", defaults.log_level),
        choices=["debug", "info", "warning", "error"],
        help="AI_GATEWAY_LOG_LEVEL",
    )
    parser.add_argument(
        "--ready-file",
        default=env("AI_GATEWAY_READY_FILE"),
        help="write the bound ports here as JSON once serving (AI_GATEWAY_READY_FILE)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=float(env("AI_GATEWAY_POLL_INTERVAL", defaults.poll_interval)),
        help="seconds between checks for changes by other replicas",
    )
    parser.add_argument(
        "--telemetry-interval",
        type=float,
        default=float(env("AI_GATEWAY_TELEMETRY_INTERVAL", defaults.telemetry_interval)),
        help="seconds between data planes' metrics reports (AI_GATEWAY_TELEMETRY_INTERVAL)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=env("AI_GATEWAY_WEBHOOK_SECRET"),
        help="sign webhook events with HMAC-SHA256 under this secret "
        "(X-AI-Gateway-Signature) (AI_GATEWAY_WEBHOOK_SECRET)",
    )
    parser.add_argument(
        "--tls-cert",
        default=env("AI_GATEWAY_TLS_CERT"),
        help="serve REST and gRPC over TLS with this PEM chain (AI_GATEWAY_TLS_CERT)",
    )
    parser.add_argument(
        "--tls-key", default=env("AI_GATEWAY_TLS_KEY"), help="its PEM key (AI_GATEWAY_TLS_KEY)"
    )
    parser.add_argument(
        "--dataplane-token",
        default=env("AI_GATEWAY_DATAPLANE_TOKEN"),
        help="data planes of --cluster must present this token to stream its snapshots "
        "(AI_GATEWAY_DATAPLANE_TOKEN)",
    )
    parser.add_argument(
        "--dataplane-tokens-file",
        default=env("AI_GATEWAY_DATAPLANE_TOKENS_FILE"),
        help="tokens scoped to clusters, a line each: 'CLUSTER[,CLUSTER...] TOKEN' or "
        "'* TOKEN' (AI_GATEWAY_DATAPLANE_TOKENS_FILE)",
    )
    parser.add_argument(
        "--insecure-dataplanes",
        action="store_true",
        default=env("AI_GATEWAY_INSECURE_DATAPLANES", "").lower() in ("1", "true", "yes"),
        help="stream snapshots to callers beyond this machine without a token or client "
        "certificate: only on a network nobody else reaches (AI_GATEWAY_INSECURE_DATAPLANES)",
    )
    parser.add_argument(
        "--client-ca",
        default=env("AI_GATEWAY_CLIENT_CA"),
        help="require gRPC clients (data planes) to present a certificate from this CA "
        "(mutual TLS; needs --tls-cert) (AI_GATEWAY_CLIENT_CA)",
    )
    parser.add_argument(
        "--trusted-proxies",
        default=env("AI_GATEWAY_TRUSTED_PROXIES", ""),
        help="comma-separated CIDRs of proxies (the data planes) whose X-Forwarded-For names "
        "the client, for throttling wrong admin keys per client (AI_GATEWAY_TRUSTED_PROXIES)",
    )
    parser.add_argument(
        "--auth-failures-per-minute",
        type=int,
        default=int(env("AI_GATEWAY_AUTH_FAILURES_PER_MINUTE", "10")),
        help="wrong admin keys a client address may send a minute before it gets 429 "
        "(AI_GATEWAY_AUTH_FAILURES_PER_MINUTE)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.auth_failures_per_minute <= 1_000_000:
        raise SystemExit("Error: --auth-failures-per-minute must be from 1 to 1000000")
    try:
        trusted = tuple(parse_networks(args.trusted_proxies))
    except ValueError as exc:
        raise SystemExit(f"Error: --trusted-proxies: {exc}") from None
    if not args.api_key:
        raise SystemExit(
            "Error: no admin API key. Set one: export AI_GATEWAY_API_KEY=$(openssl rand -hex 24)"
        )
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("Error: --tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        raise SystemExit("Error: --client-ca needs --tls-cert and --tls-key")
    for flag, value in (
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
        ("--client-ca", args.client_ca),
        ("--dataplane-tokens-file", args.dataplane_tokens_file),
    ):
        if value and not os.path.isfile(value):
            raise SystemExit(f"Error: {flag} '{value}' is not a readable file")
    if not 0.1 <= args.telemetry_interval <= 300:
        raise SystemExit("Error: --telemetry-interval must be between 0.1 and 300 seconds")
    split_host_port(args.listen, "--listen")
    split_host_port(args.grpc_listen, "--grpc-listen")
    return ControlPlaneSettings(
        admin_listen=args.listen,
        grpc_listen=args.grpc_listen,
        database_url=args.database_url,
        api_key=args.api_key,
        cluster=args.cluster,
        log_level=args.log_level,
        ready_file=args.ready_file,
        poll_interval=args.poll_interval,
        telemetry_interval=args.telemetry_interval,
        webhook_secret=args.webhook_secret or None,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        dataplane_token=args.dataplane_token or None,
        dataplane_tokens_file=args.dataplane_tokens_file,
        insecure_dataplanes=args.insecure_dataplanes,
        client_ca=args.client_ca,
        trusted_proxies=trusted,
        auth_failures_per_minute=args.auth_failures_per_minute,
    )
