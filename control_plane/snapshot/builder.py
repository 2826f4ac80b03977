"""Build a cluster's immutable snapshot from one consistent read of the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from control_plane.domain.config import SettingsSpec
from control_plane.domain.route import RouteSpec
from control_plane.proto_mapping import (
    budget_to_proto,
    jwt_provider_to_proto,
    route_to_proto,
    security_to_proto,
)
from control_plane.snapshot.discovered_routes import served_routes
from control_plane.store.records import LATEST_TIMESTAMP, ClusterState
from protos import snapshot_pb2 as pb
from protos.snapshot_delta import version_of


class _Route(Protocol):
    """A route as its message is made: a served route, or a stored one when no pods join."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> RouteSpec: ...


class RouteProtos:
    """Each route's message and its encoding, made once per parsed route: a spec object that
    is still the one the store parsed (parsed_routes keeps it while its row is unchanged)
    needs no new one, and the snapshot's index (protos.snapshot_delta) reuses the bytes."""

    def __init__(self) -> None:
        # by cluster, by route id: (spec, name, message, its deterministic encoding)
        self._made: dict[str, dict[str, tuple[RouteSpec, str, pb.Route, bytes]]] = {}

    def messages(
        self, cluster: str, routes: Sequence[_Route]
    ) -> tuple[list[pb.Route], dict[str, bytes]]:
        """The routes' messages in order, and each one's encoding by id."""
        made, messages, known = {}, [], self._made.get(cluster, {})
        for route in routes:
            kept = known.get(route.id)
            if kept is None or kept[0] is not route.spec or kept[1] != route.name:
                message = route_to_proto(
                    route.spec, route_id=route.id, name=route.name, reveal_secrets=True
                )
                kept = (
                    route.spec,
                    route.name,
                    message,
                    message.SerializeToString(deterministic=True),
                )
            made[route.id] = kept
            messages.append(kept[2])
        self._made[cluster] = made
        return messages, {route_id: kept[3] for route_id, kept in made.items()}


@dataclass(frozen=True, slots=True)
class BuiltSnapshot:
    snapshot: pb.Snapshot
    route_bytes: dict[str, bytes]  # each route's encoding, by id: the start of its index


def build(state: ClusterState, protos: RouteProtos | None = None) -> BuiltSnapshot:
    """The snapshot, with what its index needs that the build already has. The version is
    the revision plus a hash of the content: equal content, equal hash."""
    # Without discovered pods a cluster serves its stored routes as they are.
    served = (
        served_routes(state.routes, state.discovered).routes if state.discovered else state.routes
    )
    messages, route_bytes = (protos or RouteProtos()).messages(state.name, served)
    snapshot = pb.Snapshot(
        cluster=state.name,
        revision=state.revision,
        routes=messages,
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
    snapshot.version = version_of(snapshot)
    return BuiltSnapshot(snapshot, route_bytes)


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
