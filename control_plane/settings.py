"""Control-plane settings, declared once each: flag, ``AI_GATEWAY_*`` twin, type, default, help."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from control_plane.store.database import DEFAULT_DATABASE_URL
from data_plane.command_line import parse, setting
from data_plane.proxy.client_ip import parse_networks
from data_plane.settings import host_port

MIN_KEY_LENGTH = 16


def split_host_port(address: str, flag: str) -> tuple[str, int]:
    try:
        return host_port(address)
    except ValueError:
        raise SystemExit(
            f"Error: {flag} '{address}' must be HOST:PORT, like 127.0.0.1:8081"
        ) from None


def _address(text: Any) -> str:
    host_port(text)  # ValueError naming the fix
    return str(text)


def _networks(text: Any) -> tuple[str, ...]:
    return tuple(text) if isinstance(text, tuple) else tuple(parse_networks(str(text)))


Address = Annotated[str, BeforeValidator(_address)]
Networks = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_networks)]
File = Annotated[str | None, BeforeValidator(lambda v: v or None)]


class ControlPlaneSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AI_GATEWAY_", frozen=True, validate_by_name=True)

    admin_listen: Address = setting(
        "127.0.0.1:8081", "REST admin API address", flag="--listen", env="AI_GATEWAY_ADMIN_LISTEN"
    )
    grpc_listen: Address = setting("127.0.0.1:50051", "gRPC address")
    database_url: str = setting(DEFAULT_DATABASE_URL, "SQLAlchemy async URL")
    api_key: str = setting("", "admin API key (prefer the variable)", repr=False)
    cluster: str = setting("default", "default cluster, created on start")
    log_level: Literal["trace", "debug", "info", "warning", "error"] = setting(
        "info",
        "trace (libraries' debug too), debug, info, warning or error; then its "
        "cluster's settings.logLevel",
    )
    ready_file: str | None = setting(None, "write the bound ports here as JSON once serving")
    poll_interval: float = setting(
        0.25, "seconds between checks for changes by other replicas", gt=0, le=60
    )
    history_revisions: int = setting(
        100,
        "revisions whose whole document is kept per cluster (history, rollback)",
        ge=1,
        le=100_000,
    )
    telemetry_interval: float = setting(
        5.0, "seconds between data planes' metrics reports", ge=0.1, le=300
    )
    webhook_secret: str | None = setting(
        None,
        "sign webhook events with HMAC-SHA256 under this secret (X-AI-Gateway-Signature)",
        repr=False,
    )
    tls_cert: File = setting(None, "serve REST and gRPC over TLS with this PEM chain")
    tls_key: File = setting(None, "its PEM key")
    dataplane_token: str | None = setting(
        None, "data planes of --cluster present this token to stream its snapshots", repr=False
    )
    dataplane_tokens_file: File = setting(
        None, "tokens scoped to clusters, a line each: 'CLUSTER[,CLUSTER...] TOKEN' or '* TOKEN'"
    )
    insecure_dataplanes: bool = setting(
        False,
        "stream snapshots to callers beyond this machine without a token or client certificate "
        "(only on a network nobody else reaches)",
    )
    client_ca: File = setting(
        None, "require gRPC clients to present a certificate from this CA (mTLS; needs --tls-cert)"
    )
    trusted_proxies: Networks = setting(
        (),
        "comma-separated CIDRs of proxies (the data planes) whose X-Forwarded-For names the "
        "client, for throttling wrong admin keys per client",
    )
    auth_failures_per_minute: int = setting(
        10, "wrong admin keys a client address may send a minute before it gets 429", ge=1,
        le=1_000_000,
    )  # fmt: skip
    kubernetes: bool = setting(
        False, "discover backends from annotated pods, with the in-cluster service account"
    )
    kubeconfig: File = setting(None, "discover backends from annotated pods, with this kubeconfig")
    kubernetes_namespaces: str = setting(
        "", "comma-separated namespaces whose pods are watched (default: every namespace)"
    )
    kubernetes_label_selector: str | None = setting(
        None,
        "watch only pods with these labels (the API server filters on labels, not annotations)",
    )
    kubernetes_cluster: str | None = setting(
        None, "the gateway cluster discovered backends join (default: --cluster)"
    )
    kubernetes_lease_namespace: str | None = setting(
        None, "namespace of the Lease that elects the one replica that watches (default: this "
        "pod's namespace, else 'default')"
    )  # fmt: skip
    kubernetes_lease_seconds: float = setting(
        15.0, "the Lease's duration: a replica that stops renewing is replaced after it",
        ge=1, le=600,
    )  # fmt: skip

    sidecar_webhook_listen: str | None = setting(
        None, "serve the sidecar-injecting admission webhook over HTTPS here, like 0.0.0.0:8443"
    )
    sidecar_webhook_cert: File = setting(None, "the webhook's PEM certificate chain")
    sidecar_webhook_key: File = setting(None, "its PEM key")
    sidecar_image: str = setting("ai-gateway:0.1.0", "the image of injected data-plane sidecars")
    sidecar_control_plane: str = setting(
        "ai-gateway-control-plane.ai-gateway.svc:50051",
        "the control-plane gRPC address injected sidecars stream from",
    )
    sidecar_cluster: str | None = setting(
        None, "the gateway cluster injected sidecars serve (default: --cluster)"
    )
    sidecar_token_secret: str = setting(
        "ai-gateway", "the Secret (in the pod's namespace) whose dataplane-token sidecars present"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ControlPlaneSettings:
        if not self.api_key:
            raise ValueError(
                "no admin API key. Set one: export AI_GATEWAY_API_KEY=$(openssl rand -hex 24)"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.sidecar_webhook_listen and not (
            self.sidecar_webhook_cert and self.sidecar_webhook_key
        ):
            raise ValueError(
                "--sidecar-webhook-listen needs --sidecar-webhook-cert and --sidecar-webhook-key "
                "(the API server calls webhooks over HTTPS only)"
            )
        if self.sidecar_webhook_listen:
            _address(self.sidecar_webhook_listen)
        if self.client_ca and not self.tls_cert:
            raise ValueError("--client-ca needs --tls-cert and --tls-key")
        for flag, value in (
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
            ("--client-ca", self.client_ca),
            ("--dataplane-tokens-file", self.dataplane_tokens_file),
            ("--kubeconfig", self.kubeconfig),
            ("--sidecar-webhook-cert", self.sidecar_webhook_cert),
            ("--sidecar-webhook-key", self.sidecar_webhook_key),
        ):
            if value and not Path(value).is_file():
                raise ValueError(f"{flag} '{value}' is not a readable file")
        return self


def parse_args(argv: list[str] | None = None) -> ControlPlaneSettings:
    return parse(
        ControlPlaneSettings,
        argv,
        prog="ai-gateway-control-plane",
        description="Stores the gateway's configuration and streams it to data planes.",
    )
