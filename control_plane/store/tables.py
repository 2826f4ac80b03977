"""The SQL schema. Changes here need a migration in migrations/versions/."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ClusterRow(Base):
    """A cluster and its revision: every committed change bumps the revision."""

    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class SnapshotRow(Base):
    """A cluster's last snapshot that built, written in the transaction of the change it serves.

    Replicas load it instead of rebuilding, and a control plane that restarts onto rows it
    cannot build (written by another release) keeps serving it.
    """

    __tablename__ = "cluster_snapshots"

    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(String(128))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    built_at: Mapped[float] = mapped_column(Float)


class RouteRow(Base):
    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("cluster", "name", name="uq_routes_cluster_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    position: Mapped[int] = mapped_column(Integer)  # declared order: regex routes match in it
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class SecurityPolicyRow(Base):
    __tablename__ = "security_policies"
    __table_args__ = (UniqueConstraint("cluster", "endpoint", name="uq_security_cluster_endpoint"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(1024))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class DataPlaneRow(Base):
    """What each data plane last told any control-plane replica."""

    __tablename__ = "dataplanes"

    cluster: Mapped[str] = mapped_column(String(63), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    software_version: Mapped[str] = mapped_column(String(64), default="")
    applied_version: Mapped[str] = mapped_column(String(128), default="")
    last_nack: Mapped[str] = mapped_column(String(4096), default="")
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[float] = mapped_column(Float)


class ConsumerRow(Base):
    """Who calls: API keys belong to a consumer; JWTs name one in a claim."""

    __tablename__ = "consumers"
    __table_args__ = (UniqueConstraint("cluster", "name", name="uq_consumers_cluster_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[float] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)


class ApiKeyRow(Base):
    """An API key as its HMAC only: the plaintext is shown once, at creation, and never stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), index=True
    )
    consumer_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("consumers.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    route_scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float)


class JwtProviderRow(Base):
    __tablename__ = "jwt_providers"
    __table_args__ = (UniqueConstraint("cluster", "name", name="uq_jwt_providers_cluster_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ClusterSecretRow(Base):
    """The per-cluster HMAC key for API-key hashes (kept apart from the cluster's settings)."""

    __tablename__ = "cluster_secrets"

    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), primary_key=True
    )
    api_key_secret: Mapped[str] = mapped_column(String(64))


class WebhookRow(Base):
    """An event for a cluster's ``callback`` URL, kept until it is delivered (the outbox).

    Config events are written in the transaction that makes the change, so an
    event exists exactly when its change does; the dispatcher delivers at
    least once and retries with backoff.
    """

    __tablename__ = "webhook_outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, index=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    failed_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # gave up
    last_error: Mapped[str] = mapped_column(String(1024), default="")


class DataPlaneReportRow(Base):
    """A data plane's last telemetry report: its cumulative counts and its backends' health.

    Kept in SQL so that every control-plane replica computes the same differences
    and answers fleet queries for the whole fleet, whichever replica a report reached.
    """

    __tablename__ = "dataplane_reports"

    cluster: Mapped[str] = mapped_column(String(63), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float)
    reported_at: Mapped[float] = mapped_column(Float)
    served_version: Mapped[str] = mapped_column(String(128), default="")
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    health: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class TrafficDeltaRow(Base):
    """What one data plane served between two of its reports (the fleet's window is a sum)."""

    __tablename__ = "traffic_deltas"
    __table_args__ = (Index("ix_traffic_deltas_cluster_received_at", "cluster", "received_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    cluster: Mapped[str] = mapped_column(String(63))
    node_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[float] = mapped_column(Float)
    traffic: Mapped[dict[str, Any]] = mapped_column(JSON)


class BudgetLedgerRow(Base):
    """What each budget has charged in its period, from the answers the data planes settled:
    the durable count (Redis, or a data plane's memory, holds the live one)."""

    __tablename__ = "budget_ledger"

    cluster: Mapped[str] = mapped_column(String(63), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of its key
    key: Mapped[str] = mapped_column(Text)  # the data planes' name of its count
    scope: Mapped[str] = mapped_column(String(512))  # which budget, as refusals name it
    caller: Mapped[str] = mapped_column(String(512))  # whose count
    period: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(8))  # usd | tokens
    budget: Mapped[float] = mapped_column(Float)  # in the unit
    amount: Mapped[int] = mapped_column(BigInteger)  # tokens, or micro-dollars
    expires_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class BudgetReporterRow(Base):
    """The last batch of budget charges applied per data-plane process, so that a batch the
    data plane sends again (its acknowledgement was lost) is applied once."""

    __tablename__ = "budget_reporters"

    cluster: Mapped[str] = mapped_column(String(63), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float)
    sequence: Mapped[int] = mapped_column(BigInteger)


class DiscoveredBackendRow(Base):
    """A backend a watch found (an annotated pod): written by the discovery, never by the
    user's document (``apply`` leaves it, ``export`` omits it)."""

    __tablename__ = "discovered_backends"

    cluster: Mapped[str] = mapped_column(String(63), primary_key=True)
    pod: Mapped[str] = mapped_column(String(320), primary_key=True)  # namespace/name
    backend: Mapped[dict[str, Any]] = mapped_column(JSON)  # DiscoveredBackend.to_json()
    updated_at: Mapped[float] = mapped_column(Float)


class ConfigRevisionRow(Base):
    """A revision's whole document (routes, policies, settings, callback), as stored, with who
    made it: the history that ``rollback`` reapplies. Only revisions that changed the
    document have one (a pod's backend or a new API key does not)."""

    __tablename__ = "config_revisions"

    cluster: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.name", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))  # which admin credential
    address: Mapped[str] = mapped_column(String(64))  # from which client address
    action: Mapped[str] = mapped_column(String(1200))  # what the change was, as its API says
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical document
    routes: Mapped[int] = mapped_column(Integer)
    policies: Mapped[int] = mapped_column(Integer)
    document: Mapped[bytes] = mapped_column(LargeBinary)  # zlib-compressed JSON
