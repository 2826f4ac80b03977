"""How this data plane reaches its control plane: address, TLS material and bootstrap token.

The snapshot stream and the telemetry reports share it, so both present the
same identity and trust the same CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True, slots=True)
class ControlPlaneLink:
    target: str  # host:port of the control plane's gRPC listener
    ca: bytes | None = None  # set: TLS, verifying the control plane against this CA
    client_key: bytes | None = None  # with client_chain: mutual TLS
    client_chain: bytes | None = None
    token: str | None = None

    @classmethod
    def from_files(
        cls,
        target: str,
        *,
        ca_file: str | None = None,
        token: str | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> ControlPlaneLink:
        """``client_cert`` is (certificate chain file, key file)."""
        return cls(
            target=target,
            ca=Path(ca_file).read_bytes() if ca_file else None,
            client_key=Path(client_cert[1]).read_bytes() if client_cert else None,
            client_chain=Path(client_cert[0]).read_bytes() if client_cert else None,
            token=token,
        )

    @property
    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        return (("authorization", f"Bearer {self.token}"),) if self.token else None

    def channel(self) -> grpc.aio.Channel:
        if self.ca is None:
            return grpc.aio.insecure_channel(self.target)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca,
            private_key=self.client_key,
            certificate_chain=self.client_chain,
        )
        return grpc.aio.secure_channel(self.target, credentials)
