"""Stored objects as the admin APIs show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from control_plane.domain.identity import JwtProviderSpec
from control_plane.domain.route import RouteSpec, redact_route
from control_plane.domain.security import SecuritySpec
from control_plane.kubernetes.pod_backends import DiscoveredBackend

LATEST_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last instant ISO 8601 can write


def iso(ts: float) -> str:
    """A Unix time in ISO 8601; one beyond the year 9999 (stored by an older release) as its end."""
    clamped = min(max(ts, 0.0), LATEST_TIMESTAMP) if ts == ts else LATEST_TIMESTAMP
    return datetime.fromtimestamp(clamped, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RouteRecord:
    id: str
    cluster: str
    name: str
    position: int
    spec: RouteSpec
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **redact_route(self.spec.model_dump(mode="json")),
            "name": self.name,
            "cluster": self.cluster,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class SecurityRecord:
    id: str
    cluster: str
    spec: SecuritySpec
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(mode="json"),
            "cluster": self.cluster,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    name: str
    revision: int
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "revision": self.revision, "createdAt": iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class DataPlaneRecord:
    node_id: str
    cluster: str
    hostname: str
    software_version: str
    applied_version: str
    last_nack: str
    connected: bool
    last_seen: float

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "cluster": self.cluster,
            "hostname": self.hostname,
            "softwareVersion": self.software_version,
            "appliedVersion": self.applied_version,
            "lastSeen": iso(self.last_seen),
            "lastNack": self.last_nack or None,
            "connected": self.connected,
        }


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    consumer: str
    prefix: str
    hash: str
    expires_at: float | None
    routes: tuple[str, ...]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        """Never the key, never its hash: the prefix is enough to recognise it."""
        return {
            "id": self.id,
            "consumer": self.consumer,
            "prefix": self.prefix,
            "expiresAt": iso(self.expires_at) if self.expires_at else None,
            "routes": list(self.routes),
            "createdAt": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class ConsumerRecord:
    id: str
    name: str
    created_at: float
    keys: tuple[ApiKeyRecord, ...] = ()
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tags": list(self.tags),
            "keys": len(self.keys),
            "createdAt": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Identities:
    consumers: tuple[ConsumerRecord, ...] = ()
    jwt_providers: tuple[JwtProviderSpec, ...] = ()
    api_key_secret: bytes = b""


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything a snapshot is built from, read in one transaction."""

    name: str
    revision: int
    routes: tuple[RouteRecord, ...]
    security: tuple[SecurityRecord, ...]
    settings: dict[str, Any]
    callback: str | None
    identities: Identities = Identities()
    discovered: tuple[DiscoveredBackend, ...] = ()  # from annotated pods, by pod name


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """One event in the outbox and how its delivery went."""

    id: str
    cluster: str
    url: str
    event_type: str
    payload: dict[str, Any]
    created_at: float
    attempts: int
    next_attempt_at: float
    delivered_at: float | None
    failed_at: float | None
    last_error: str

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "failed" if self.failed_at is not None else "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cluster": self.cluster,
            "url": self.url,
            "type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "createdAt": iso(self.created_at),
            "nextAttemptAt": iso(self.next_attempt_at) if self.status == "pending" else None,
            "deliveredAt": iso(self.delivered_at) if self.delivered_at is not None else None,
            "lastError": self.last_error or None,
            "data": self.payload.get("data"),
        }
