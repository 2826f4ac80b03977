"""One snapshot's security, compiled: its policies, API keys and JWT verifiers.

The chains' authentication filters and ``GET /v1/models`` both read it, so the
two agree on who may call what.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_plane.security.api_keys import KeyIndex
from data_plane.security.jwks import JwksFetcher
from data_plane.security.jwt_auth import JwtVerifier
from data_plane.security.policies import CompiledPolicy, PolicyTable
from protos import snapshot_pb2 as pb


@dataclass(frozen=True, slots=True)
class SnapshotSecurity:
    cluster: str = ""  # names the rate-limit counts (they are per cluster)
    policies: PolicyTable = field(default_factory=lambda: PolicyTable([]))
    keys: KeyIndex = field(default_factory=lambda: KeyIndex(b"", []))
    verifiers: dict[str, JwtVerifier] = field(default_factory=dict)

    @classmethod
    def compile(cls, snapshot: pb.Snapshot, jwks: JwksFetcher | None) -> SnapshotSecurity:
        """ValueError, KeyError or TypeError when a part of it cannot serve."""
        return cls(
            snapshot.cluster,
            PolicyTable(list(snapshot.security)),
            KeyIndex(snapshot.api_key_secret, list(snapshot.consumers)),
            {p.name: JwtVerifier.compile(p, jwks) for p in snapshot.jwt_providers},
        )

    def verifiers_of(self, policy: CompiledPolicy) -> tuple[JwtVerifier, ...]:
        """The verifiers a JWT policy accepts: the providers it names, else every one."""
        names = policy.jwt_providers or tuple(self.verifiers)
        return tuple(self.verifiers[n] for n in names if n in self.verifiers)
