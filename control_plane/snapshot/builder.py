"""Build a cluster's immutable snapshot from one consistent read of the store."""

from __future__ import annotations

import hashlib
from typing import Any

from control_plane.domain.config import SettingsSpec
from control_plane.proto_mapping import (
    budget_to_proto,
    jwt_provider_to_proto,
    route_to_proto,
    security_to_proto,
)
from control_plane.snapshot.discovered_routes import served_routes
from control_plane.store.records import LATEST_TIMESTAMP, ClusterState
from protos import snapshot_pb2 as pb


def build_snapshot(state: ClusterState) -> pb.Snapshot:
    """The version is the revision plus a hash of the content: equal content, equal hash."""
    snapshot = pb.Snapshot(
        cluster=state.name,
        revision=state.revision,
        routes=[
            route_to_proto(r.spec, route_id=r.id, name=r.name, reveal_secrets=True)
            for r in served_routes(state.routes, state.discovered).routes
        ],
        security=[security_to_proto(p.spec, policy_id=p.id) for p in state.security],
        settings=pb.DataPlaneSettings(
            log_level=str(state.settings.get("logLevel", "info")),
            callback_url=state.callback or "",
        ),
        consumers=[
            pb.Consumer(
                id=c.id,
                name=c.name,
                keys=[
                    pb.ApiKey(
                        id=k.id,
                        hash=bytes.fromhex(k.hash),
                        prefix=k.prefix,
                        expires_at_unix=_unix(k.expires_at),
                        route_scope=list(k.routes),
                    )
                    for k in c.keys
                ],
            )
            for c in state.identities.consumers
        ],
        jwt_providers=[jwt_provider_to_proto(p) for p in state.identities.jwt_providers],
        api_key_secret=state.identities.api_key_secret,
        prices={
            model: pb.Price(
                input=float(price.get("input", 0.0)),
                output=float(price.get("output", 0.0)),
                cached_input=price.get("cachedInput"),
            )
            for model, price in (state.settings.get("prices") or {}).items()
        },
    )
    _add_limits(snapshot, state.settings)
    digest = hashlib.sha256(snapshot.SerializeToString(deterministic=True)).hexdigest()
    snapshot.version = f"{state.revision}-{digest[:16]}"
    return snapshot


def _unix(expires_at: float | None) -> int:
    """Whole seconds for the snapshot; a time past year 9999 (an older release stored what it was
    given) as that year's end, which is as good as never."""
    if not expires_at:
        return 0
    return int(min(expires_at, LATEST_TIMESTAMP)) if expires_at == expires_at else 0


def _add_limits(snapshot: pb.Snapshot, settings: dict[str, Any]) -> None:
    """settings.teams and settings.limits, as the data planes read them."""
    if not settings.get("teams") and not settings.get("limits"):
        return
    spec = SettingsSpec.model_validate(settings)
    for team, members in spec.teams.items():
        snapshot.teams[team].consumers.extend(members)
    for index, limit in enumerate(spec.limits):
        scoped = pb.ScopedLimit(
            name=limit.name or f"limits[{index}]",
            team=limit.team or "",
            consumer=limit.consumer or "",
            key=limit.key or "",
            model=limit.model or "",
            endpoint=limit.endpoint,
        )
        if limit.token_limit is not None:
            scoped.token_limit.CopyFrom(
                pb.TokenLimit(
                    tokens=limit.token_limit.tokens,
                    period_seconds=limit.token_limit.period_seconds,
                )
            )
        if limit.budget is not None:
            scoped.budget.CopyFrom(budget_to_proto(limit.budget))
        snapshot.limits.append(scoped)
