"""RuntimeConfig: one snapshot compiled into the immutable objects the hot path reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from data_plane.runtime.routes import RouteTable
from protos import snapshot_pb2 as pb

if TYPE_CHECKING:
    from data_plane.ai.model_list import ModelList
    from data_plane.runtime.chains import ChainBuilder


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
    source: pb.Snapshot = field(default_factory=pb.Snapshot, compare=False, repr=False)
    hostnames: frozenset[str] = frozenset()  # target hosts the resolver keeps looking up
    compiled_since: float = 0.0  # when its compile began (monotonic): what pools it may drop
    model_list: ModelList | None = None  # GET /v1/models, when routes name models
    chains: ChainBuilder | None = field(default=None, compare=False, repr=False)  # its filters
    addresses_generation: int = 0  # the DNS answers it was compiled with (AddressBook)
