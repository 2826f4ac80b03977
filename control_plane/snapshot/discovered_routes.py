"""The routes a snapshot serves: the user's, with the backends discovered from annotated
pods added.

A pod that names a route (``gateway-route``) becomes one more target of it; one that
names a path joins the user's route for exactly that path (when it names no models), or
else the discovered route for its path and models, shared by every pod that names them.
A pod naming a route that does not exist serves nothing (``status`` shows it). The
user's document never holds these targets: they are added here, at each build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from control_plane.domain.route import RouteSpec, TargetSpec
from control_plane.kubernetes.pod_backends import DiscoveredBackend
from control_plane.store.records import RouteRecord

MAX_TARGETS = 256  # a route's targets, its own and discovered ones together


class ServedRoute(NamedTuple):
    """A tuple, not a frozen dataclass: a 10,000-route cluster makes 10,000 per change, and
    a tuple is made several times faster."""

    id: str
    name: str
    spec: RouteSpec
    pods: tuple[DiscoveredBackend, ...] = ()  # the targets that are pods
    discovered: bool = False  # made from pods (not the user's)


@dataclass(frozen=True, slots=True)
class Served:
    routes: list[ServedRoute]
    unplaced: list[DiscoveredBackend]  # pods naming a route that does not exist


@dataclass(slots=True)
class _Made:
    path: str
    strip_prefix: bool
    models: tuple[str, ...]
    pods: list[DiscoveredBackend] = field(default_factory=list)


def _target(backend: DiscoveredBackend) -> TargetSpec:
    return TargetSpec(url=backend.url, weight=backend.weight, priority=backend.priority)


def served_routes(routes: Sequence[RouteRecord], discovered: Sequence[DiscoveredBackend]) -> Served:
    by_name = {r.name: r for r in routes}
    by_path = {r.spec.path: r for r in routes if r.spec.match == "prefix"}
    joining: dict[str, list[DiscoveredBackend]] = {}
    made: dict[str, _Made] = {}
    unplaced = []
    for backend in discovered:
        if backend.route is not None:
            if backend.route in by_name:
                joining.setdefault(backend.route, []).append(backend)
            else:
                unplaced.append(backend)
            continue
        assert backend.path is not None
        user = by_path.get(backend.path) if not backend.models else None
        name = user.name if user is not None else backend.route_name
        if name in by_name:
            joining.setdefault(name, []).append(backend)
            continue
        route = made.setdefault(name, _Made(backend.path, backend.strip_prefix, backend.models))
        route.pods.append(backend)
    served = []
    for record in routes:
        spec = record.spec
        pods = tuple(joining.get(record.name, ())[: MAX_TARGETS - len(spec.targets)])
        if pods:
            spec = spec.model_copy(update={"targets": (*spec.targets, *map(_target, pods))})
        served.append(ServedRoute(record.id, record.name, spec, pods))
    for name in sorted(made):
        route = made[name]
        pods = tuple(route.pods[:MAX_TARGETS])
        spec = RouteSpec(
            name=name,
            path=route.path,
            strip_prefix=route.strip_prefix,
            models=route.models,
            targets=tuple(map(_target, pods)),
        )
        served.append(ServedRoute(f"discovered-{name}", name, spec, pods, discovered=True))
    return Served(served, unplaced)
