"""Who may read which cluster's snapshots: data-plane tokens scoped to clusters.

A snapshot holds key digests and HMAC secrets, so it goes only to a caller
that proves it is a data plane of that cluster:

- ``--dataplane-token TOKEN`` reads the control plane's own cluster (``--cluster``);
- ``--dataplane-tokens-file FILE`` holds lines ``CLUSTER[,CLUSTER...] TOKEN``, or
  ``* TOKEN`` for every cluster (``#`` starts a comment);
- without any token, a client certificate from ``--client-ca`` (mutual TLS) reads
  every cluster; with neither, only callers on this machine (loopback) may read,
  unless ``--insecure-dataplanes`` says the network is trusted.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

from control_plane.domain.config import check_cluster_name

EVERY_CLUSTER = "*"


@dataclass(frozen=True, slots=True)
class ScopedToken:
    secret: bytes
    clusters: frozenset[str]  # EVERY_CLUSTER: all of them

    def reads(self, cluster: str) -> bool:
        return EVERY_CLUSTER in self.clusters or cluster in self.clusters


def read_tokens_file(path: str) -> list[ScopedToken]:
    """The tokens of a ``--dataplane-tokens-file``; ValueError naming the line that is wrong."""
    tokens = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        scope, _, secret = text.partition(" ")
        secret = secret.strip()
        if not secret or " " in secret:
            raise ValueError(f"{path}:{number}: write 'CLUSTER[,CLUSTER...] TOKEN' or '* TOKEN'")
        clusters = frozenset(c.strip() for c in scope.split(",") if c.strip())
        for cluster in clusters - {EVERY_CLUSTER}:
            try:
                check_cluster_name(cluster)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
        tokens.append(ScopedToken(secret.encode(), clusters))
    return tokens


def peer_address(peer: str) -> str:
    """The address in grpc's peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``);
    ``unix`` for a Unix socket."""
    kind, _, address = peer.partition(":")
    if kind == "unix":
        return "unix"
    return address.rsplit(":", 1)[0].strip("[]").replace("%25", "%").split("%")[0]


def _loopback(peer: str) -> bool:
    address = peer_address(peer)
    if address == "unix":
        return True
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    return (mapped or parsed).is_loopback


@dataclass(frozen=True, slots=True)
class DataPlaneAccess:
    tokens: tuple[ScopedToken, ...] = ()
    client_certificates: bool = False  # gRPC requires one from --client-ca
    insecure: bool = False  # --insecure-dataplanes

    async def caller(self, context: grpc.aio.ServicerContext) -> ScopedToken | None:
        """Who calls, before anything it sends is read: its token (None when no token is
        required); the call is aborted when it may read nothing."""
        if self.tokens:
            token = self._token(context)
            if token is None:
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing or wrong data-plane token (--token / AI_GATEWAY_DATAPLANE_TOKEN)",
                )
            return token
        if not (self.client_certificates or self.insecure or _loopback(context.peer() or "")):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "this control plane streams snapshots beyond this machine only to callers with "
                "a data-plane token (--dataplane-token) or a client certificate (--client-ca); "
                "--insecure-dataplanes turns that off on a trusted network",
            )
        return None

    @staticmethod
    async def check_scope(
        context: grpc.aio.ServicerContext, token: ScopedToken | None, cluster: str
    ) -> None:
        if token is not None and not token.reads(cluster):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this data-plane token does not read cluster '{cluster}'",
            )

    def _token(self, context: grpc.aio.ServicerContext) -> ScopedToken | None:
        metadata = dict(context.invocation_metadata() or ())
        scheme, _, given = str(metadata.get("authorization", "")).partition(" ")
        if scheme.lower() != "bearer":
            return None
        found = None
        for token in self.tokens:  # every one compared, in constant time
            if hmac.compare_digest(given.encode(), token.secret):
                found = token
        return found
