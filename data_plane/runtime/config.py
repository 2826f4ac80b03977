"""RuntimeConfig: one snapshot compiled into the immutable objects the hot path reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_plane.runtime.routes import RouteTable
from data_plane.security.guard import SecurityGuard
from protos import snapshot_pb2 as pb


@dataclass(frozen=True, slots=True)
class DataPlaneSettings:
    log_level: str = "info"
    callback_url: str = ""


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    cluster: str
    version: str
    revision: int
    routes: RouteTable
    settings: DataPlaneSettings
    guard: SecurityGuard
    source: pb.Snapshot = field(default_factory=pb.Snapshot, compare=False, repr=False)
    hostnames: frozenset[str] = frozenset()  # target hosts the resolver keeps looking up
