"""Data-plane settings, declared once each: flag, ``AI_GATEWAY_*`` twin, type, default, help."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from data_plane.command_line import parse, setting
from data_plane.proxy.client_ip import parse_networks


def host_port(address: Any, default_port: int | None = None) -> tuple[str, int]:
    """'0.0.0.0:8080' (or 'host' when ``default_port``) -> ('0.0.0.0', 8080)."""
    if isinstance(address, tuple):
        return address
    text = str(address)
    host, sep, port = text.rpartition(":")
    if not sep and default_port is not None:
        host, port = text, str(default_port)
    if not port.isdigit() or not 0 <= int(port) <= 65535 or (not host and not sep):
        raise ValueError(f"'{text}' must be HOST:PORT, like 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


def _resolver(address: Any) -> tuple[str, int] | None:
    return None if address in (None, "") else host_port(address, default_port=53)


def _networks(text: Any) -> tuple[str, ...]:
    return tuple(text) if isinstance(text, tuple) else tuple(parse_networks(str(text)))


_CONNECT_TO = re.compile(
    r"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5}):([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})"
)


def connect_to(text: Any) -> tuple[tuple[str, int, str, int], ...]:
    """curl's ``--connect-to``: 'ai-service:8080:127.0.0.1:8000' (several comma-separated)
    sends what targets ai-service:8080 to 127.0.0.1:8000, its Host still ai-service:8080."""
    if isinstance(text, tuple):
        return text
    pairs = []
    for item in filter(None, (part.strip() for part in str(text or "").split(","))):
        match = _CONNECT_TO.fullmatch(item)
        if match is None:
            raise ValueError(
                f"'{item}' must be HOST:PORT:ADDRESS:PORT, like ai-service:8080:127.0.0.1:8000"
            )
        host, port, address, to_port = match.groups()
        if not (0 < int(port) < 65536 and 0 < int(to_port) < 65536):
            raise ValueError(f"'{item}': a port must be 1-65535")
        pairs.append((host.lower(), int(port), address.strip("[]"), int(to_port)))
    return tuple(pairs)


Address = Annotated[tuple[str, int], NoDecode, BeforeValidator(host_port)]
ConnectTo = Annotated[tuple[tuple[str, int, str, int], ...], NoDecode, BeforeValidator(connect_to)]
Resolver = Annotated[tuple[str, int] | None, NoDecode, BeforeValidator(_resolver)]
Networks = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_networks)]
ReadableFile = Annotated[Path | None, BeforeValidator(lambda v: v or None)]


def _readable(path: Path | None, flag: str) -> None:
    if path is not None and not path.is_file():
        raise ValueError(f"{flag} '{path}' is not a readable file")


class DataPlaneSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AI_GATEWAY_", frozen=True, validate_by_name=True)

    control_plane: str = setting("127.0.0.1:50051", "control-plane gRPC address")
    cluster: str = setting("default", "the cluster whose snapshots this data plane serves")
    listen: Address = setting("0.0.0.0:8080", "proxy listener (client traffic)")
    ops_listen: Address = setting("127.0.0.1:9901", "/healthz, /readyz and /metrics")
    cache_dir: Path = setting(Path(".ai-gateway/cache"), "where the last applied snapshot is kept")
    workers: int = setting(1, "processes sharing the listen port (SO_REUSEPORT)", ge=1, le=256)
    node_id: str = setting(
        lambda: f"{socket.gethostname()}-{os.getpid()}",
        "this data plane's name at the control plane (default <hostname>-<pid>)",
    )
    admin_url: str | None = setting(
        None,
        "control-plane REST URL that /api/v1 is forwarded to "
        "(default http://<control-plane host>:8081)",
    )
    no_api_forward: bool = setting(False, "do not forward /api/v1 to the control plane")
    max_body_bytes: int = setting(16 << 20, "larger request bodies get 413", ge=1)
    log_level: Literal["trace", "debug", "info", "warning", "error"] = setting(
        "info",
        "trace (libraries' debug too), debug, info, warning or error; then the "
        "cluster's settings.logLevel",
    )
    ready_file: str | None = setting(None, "write the bound ports here as JSON once serving")
    redis_url: str | None = setting(
        None, "share rate-limit counts through this Redis; default: per process"
    )
    rate_limit_failure: Literal["open", "closed"] = setting(
        "open", "when Redis fails: count locally (open) or refuse (closed)"
    )
    trusted_proxies: Networks = setting(
        (), "comma-separated networks whose X-Forwarded-For is believed"
    )
    tls_cert: ReadableFile = setting(None, "serve HTTPS with this PEM chain (reloaded on change)")
    tls_key: ReadableFile = setting(None, "its PEM private key")
    upstream_ca: str | None = setting(
        None, "verify HTTPS backends (and JWKS fetches) against this CA bundle"
    )
    control_plane_ca: ReadableFile = setting(
        None, "connect to the control plane over TLS, trusting this CA"
    )
    token: str | None = setting(
        None, "the control plane's data-plane token", env="AI_GATEWAY_DATAPLANE_TOKEN", repr=False
    )
    client_cert: str | None = setting(None, "certificate presented to the control plane (mTLS)")
    client_key: str | None = setting(None, "its key")
    ejection_seconds: float = setting(
        30.0, "base time a failing backend is ejected for; x times ejected, capped at 10x", gt=0
    )
    max_requests_per_target: int = setting(
        1024, "circuit breaker: requests in flight to one backend before it takes no more", ge=1
    )
    max_concurrency: int = setting(
        10_000, "requests in flight in this process before new ones get 503", ge=1
    )
    no_access_log: bool = setting(False, "do not write a JSON line per request to stderr")
    access_log_buffer: int = setting(
        10_000, "access-log lines waiting for a slow reader before new ones are dropped", ge=1
    )
    request_head_timeout: float = setting(
        10.0, "seconds a client has to send a whole request head; then 408", gt=0, le=3600
    )
    keepalive_timeout: float = setting(
        60.0, "seconds an idle kept-alive client connection stays open", gt=0, le=86_400
    )
    max_connections: int | None = setting(
        None,
        "client connections open in this process before accepting pauses "
        "(default a third of the open-files limit, at most 100000)",
        ge=1,
    )
    upstream_idle_timeout: float = setting(
        60.0, "seconds a kept-alive connection to a backend may sit idle", gt=0, le=86_400
    )
    jwks_fetch_timeout: float = setting(
        5.0, "seconds a JWT provider's key set may take to arrive", gt=0, le=60
    )
    jwks_refetch_cooldown: float = setting(
        30.0, "a token with an unknown kid refetches the key set at most this often", gt=0, le=3600
    )
    dns_resolver: Resolver = setting(
        None, "HOST[:PORT] of the DNS server for hostname targets; default: the system's"
    )
    connect_to: ConnectTo = setting(
        (),
        "HOST:PORT:ADDRESS:PORT (comma-separated): connect there for targets HOST:PORT, as "
        "curl --connect-to (demos, tests); the Host header stays HOST:PORT",
    )
    dns_refresh_seconds: float = setting(5.0, "how often hostname targets are resolved again", gt=0)
    sidecar_app: str | None = setting(
        None,
        "sidecar mode: every route sends to this URL (the pod's app container, like "
        "http://127.0.0.1:8000) instead of its targets",
    )

    @property
    def access_log(self) -> bool:
        return not self.no_access_log

    @model_validator(mode="after")
    def _together(self) -> DataPlaneSettings:
        if bool(self.client_cert) != bool(self.client_key):
            raise ValueError("--client-cert and --client-key go together")
        if self.client_cert and not self.control_plane_ca:
            raise ValueError("--client-cert needs --control-plane-ca (mutual TLS runs over TLS)")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        for flag, path in (
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
            ("--control-plane-ca", self.control_plane_ca),
            ("--upstream-ca", Path(self.upstream_ca) if self.upstream_ca else None),
        ):
            _readable(path, flag)
        host_port(self.control_plane)
        if self.sidecar_app is not None:
            parts = urlsplit(self.sidecar_app)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.username
            ):
                raise ValueError(
                    f"--sidecar-app '{self.sidecar_app}' must be like http://127.0.0.1:8000 "
                    "(scheme, host and port only)"
                )
        return self

    @property
    def api_forward_url(self) -> str | None:
        """Where /api/v1 goes: --admin-url, else the control plane's host on 8081; None when off."""
        if self.no_api_forward:
            return None
        if self.admin_url:
            return self.admin_url.rstrip("/")
        host, _ = host_port(self.control_plane)
        return f"http://{host if host != '0.0.0.0' else '127.0.0.1'}:8081"


def parse_args(argv: list[str] | None = None) -> DataPlaneSettings:
    return parse(
        DataPlaneSettings,
        argv,
        prog="ai-gateway-data-plane",
        description="Proxies client traffic to AI backends, configured by the control plane.",
    )
