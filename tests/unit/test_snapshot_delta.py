"""Incremental snapshots give exactly the snapshot, and the compiled config, a full one gives."""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest

from data_plane.filters.policy_dispatch import PolicyDispatch
from data_plane.runtime.compile import CompileContext, Increment, compile_snapshot, targets_in_use
from data_plane.runtime.config import RuntimeConfig
from data_plane.runtime.routes import CompiledRoute
from protos import snapshot_pb2 as pb
from protos.snapshot_delta import (
    DeltaRejected,
    SnapshotIndex,
    apply_delta,
    make_delta,
    version_of,
)

KINDS = [pb.PathMatch.PREFIX, pb.PathMatch.PREFIX, pb.PathMatch.EXACT, pb.PathMatch.REGEX]


def make_route(number: int, variant: int) -> pb.Route:
    """Routes that share paths (so their order matters), of every path kind, some naming
    models (which makes the compile rebuild the model catalog)."""
    kind = KINDS[number % len(KINDS)]
    path = f"/svc-{number % 5}" if kind != pb.PathMatch.REGEX else f"/re-{number % 3}/[a-z]+"
    route = pb.Route(
        id=f"route-{number}",
        name=f"r{number}",
        path=pb.PathMatch(kind=kind, value=path),
        targets=[pb.Target(url=f"http://10.0.{variant % 200}.{number % 250}:8000", weight=1)],
        methods=["GET", "POST"][: variant % 3],
    )
    if number % 6 == 0:
        route.models.append(f"model-{number}-{variant}")
    if number % 9 == 0:
        route.targets[0].model = f"served-{variant}"
    return route


def make_policy(number: int, requests: int) -> pb.SecurityPolicy:
    limit = pb.RateLimit(requests=requests, period_seconds=60, scope="consumer")
    return pb.SecurityPolicy(id=f"policy-{number}", endpoint=f"/svc-{number}", rate_limit=limit)


def make_consumer(number: int) -> pb.Consumer:
    key = pb.ApiKey(id=f"key-{number}", hash=bytes([number % 256]) * 32, prefix=f"aigw_{number}")
    return pb.Consumer(id=f"consumer-{number}", name=f"team-{number}", keys=[key])


def finish(snapshot: pb.Snapshot, revision: int) -> pb.Snapshot:
    done = pb.Snapshot()
    done.CopyFrom(snapshot)
    done.revision, done.version = revision, ""
    done.version = version_of(done)
    return done


def change(snapshot: pb.Snapshot, rng: random.Random, step: int) -> tuple[pb.Snapshot, bool]:
    """One random change, as an admin write makes them; True when it reorders routes it
    does not otherwise change (which a delta cannot say)."""
    new = pb.Snapshot()
    new.CopyFrom(snapshot)
    routes, roll = new.routes, rng.random()
    if roll < 0.3 or not routes:
        routes.insert(rng.randint(0, len(routes)), make_route(1000 * step + 999, step))
    elif roll < 0.5:
        route = routes[rng.randrange(len(routes))]
        route.CopyFrom(make_route(int(route.id.removeprefix("route-")), step))
    elif roll < 0.6:
        routes.pop(rng.randrange(len(routes)))
    elif roll < 0.7:
        index = rng.randrange(len(new.security) + 1)
        if index < len(new.security):
            new.security.pop(index)
        else:
            new.security.append(make_policy(1000 + step, rng.randint(1, 100)))
    elif roll < 0.75:
        new.consumers.append(make_consumer(1000 + step))
    elif roll < 0.8:
        new.prices[f"model-{step}"].CopyFrom(pb.Price(input=1.0, output=2.0))
    elif roll < 0.85:
        new.settings.log_level = rng.choice(["info", "debug", "warning"])
    elif roll < 0.9 and len(routes) > 2:
        first = pb.Route()
        first.CopyFrom(routes[0])
        routes.pop(0)
        routes.append(first)
        return new, True
    else:  # several routes at once, as an apply does
        for number in rng.sample(range(100), 5):
            routes.append(make_route(1000 * step + number, step))
    return new, False


def describe_route(route: CompiledRoute) -> tuple[Any, ...]:
    upstream = route.upstream
    return (
        route.id,
        route.name,
        route.kind,
        route.path,
        route.methods,
        route.hosts,
        route.models.patterns if route.models is not None else None,
        [(t.url, t.weight, t.priority, t.model) for t in upstream.targets],
        upstream.algorithm,
        upstream.outlier,
        route.timeouts,
        route.retries,
        route.fallback_on,
        describe_chain(route.chain),
        describe_chain(route.ai_chain),
    )


def describe_chain(chain: Any) -> Any:
    """The filters a chain runs, by kind (a dispatch: each policy's chain by endpoint)."""
    if isinstance(chain, PolicyDispatch):
        chains = chain._chains  # what the dispatch chooses between
        return {endpoint: describe_chain(c) for endpoint, c in chains.items()}
    steps = []
    while isinstance(chain, functools.partial):
        steps.append(type(chain.func).__name__)
        chain = chain.keywords["next"]
    return (*steps, type(chain).__name__)


def describe(config: RuntimeConfig) -> tuple[Any, ...]:
    """What the request path reads, in the order it reads it."""
    table = config.routes
    groups = [*table.exact.items(), *table.prefix.items()]
    return (
        config.version,
        config.revision,
        config.settings,
        config.hostnames,
        bool(config.model_list),
        [(key, [describe_route(r) for r in routes]) for key, routes in groups],
        [describe_route(r) for r in table.regex],
        table.count,
    )


def base_snapshot() -> pb.Snapshot:
    snapshot = pb.Snapshot(cluster="c", api_key_secret=b"s" * 32)
    snapshot.routes.extend(make_route(n, 0) for n in range(30))
    snapshot.security.extend(make_policy(n, 10) for n in range(3))
    snapshot.consumers.extend(make_consumer(n) for n in range(3))
    return finish(snapshot, 1)


@pytest.mark.parametrize("seed", range(4))
def test_a_random_sequence_of_changes_compiles_as_full_snapshots_do(seed: int) -> None:
    rng = random.Random(seed)
    context = CompileContext()
    history = [base_snapshot()]
    indexes = [SnapshotIndex.of(history[0])]
    configs = [compile_snapshot(history[0], context)]
    reordered_at: set[int] = set()
    deltas = reused = 0
    for step in range(1, 60):
        changed, reordered = change(history[-1], rng, step)
        snapshot = finish(changed, step + 1)
        if reordered:
            reordered_at.add(step)
        index = SnapshotIndex.of(snapshot, indexes[-1])
        full = compile_snapshot(snapshot, context)
        for back in (1, 5):  # the version just before, and one a reconnecting plane holds
            if back > step:
                continue
            base = step - back
            delta = make_delta(indexes[base], snapshot, index)
            if delta is None:
                assert reordered_at & set(range(base + 1, step + 1)), "a delta was possible"
                continue
            deltas += 1
            applied, touched = apply_delta(history[base], delta)
            assert applied.SerializeToString(deterministic=True) == snapshot.SerializeToString(
                deterministic=True
            )
            increment = Increment(configs[base], frozenset(touched))
            incremental = compile_snapshot(applied, context, increment)
            assert describe(incremental) == describe(full)
            kept = {r.id: r for r in configs[base].routes.all_routes()}
            reused += sum(kept.get(r.id) is r for r in incremental.routes.all_routes())
        history.append(snapshot)
        indexes.append(index)
        configs.append(full)
    assert deltas > 60 and reused > 1000, (deltas, reused)


def test_only_the_changed_routes_are_compiled_again() -> None:
    context = CompileContext()
    base = finish(pb.Snapshot(cluster="c", routes=[make_route(n, 0) for n in range(1, 40)]), 1)
    before = compile_snapshot(base, context)
    new = pb.Snapshot()
    new.CopyFrom(base)
    new.routes[3].CopyFrom(make_route(4, 7))
    new.routes.append(make_route(41, 0))
    snapshot = finish(new, 2)
    delta = make_delta(SnapshotIndex.of(base), snapshot, SnapshotIndex.of(snapshot))
    assert delta is not None and len(delta.routes.upserted) == 2 and not delta.routes.removed
    applied, touched = apply_delta(base, delta)
    assert touched == {"route-4", "route-41"}
    after = compile_snapshot(applied, context, Increment(before, frozenset(touched)))
    old = {r.id: r for r in before.routes.all_routes()}
    fresh = [r.id for r in after.routes.all_routes() if old.get(r.id) is not r]
    assert sorted(fresh) == ["route-4", "route-41"]


def test_a_delta_for_another_base_or_content_is_rejected() -> None:
    base = base_snapshot()
    new = pb.Snapshot()
    new.CopyFrom(base)
    new.routes.append(make_route(77, 1))
    snapshot = finish(new, 2)
    delta = make_delta(SnapshotIndex.of(base), snapshot, SnapshotIndex.of(snapshot))
    assert delta is not None
    with pytest.raises(DeltaRejected, match="is held"):
        apply_delta(snapshot, delta)
    delta.routes.upserted[0].targets[0].url = "http://10.9.9.9:1"  # not what was built
    with pytest.raises(DeltaRejected, match="does not give that version's content"):
        apply_delta(base, delta)
    delta.routes.positions.append(3)
    with pytest.raises(DeltaRejected, match="positions for some items only"):
        apply_delta(base, delta)


def test_no_delta_when_ids_repeat() -> None:
    base = finish(pb.Snapshot(cluster="c", routes=[make_route(1, 0), make_route(1, 1)]), 1)
    new = finish(pb.Snapshot(cluster="c", routes=[make_route(1, 0)]), 2)
    assert make_delta(SnapshotIndex.of(base), new, SnapshotIndex.of(new)) is None


def test_a_reused_route_keeps_its_fallback_target_s_pool_and_health() -> None:
    """What _apply keeps after an incremental compile: the pools and health of every target
    in use, a reused route's fallback target among them (it is not asked for again)."""
    context = CompileContext()
    with_fallback = make_route(1, 0)
    backup = pb.Target(url="http://10.9.0.1:8000", weight=1)
    with_fallback.fallbacks.append(pb.Fallback(target=backup))
    base = finish(pb.Snapshot(cluster="c", routes=[with_fallback, make_route(2, 0)]), 1)
    before = compile_snapshot(base, context)
    new = pb.Snapshot()
    new.CopyFrom(base)
    new.routes.append(make_route(3, 0))
    snapshot = finish(new, 2)
    delta = make_delta(SnapshotIndex.of(base), snapshot, SnapshotIndex.of(snapshot))
    assert delta is not None
    applied, touched = apply_delta(base, delta)
    after = compile_snapshot(applied, context, Increment(before, frozenset(touched)))
    (reused,) = [r for r in after.routes.all_routes() if r.id == "route-1"]
    assert reused is next(r for r in before.routes.all_routes() if r.id == "route-1")
    fallback = reused.fallbacks[0].upstream
    assert fallback is not None
    target = fallback.targets[0]
    in_use = targets_in_use(after.routes.all_routes())
    context.pools.retain(in_use, after.compiled_since)
    context.health.retain({t.url for t in in_use})
    assert context.pools.for_target(target) is target.pool, "the fallback's pool was closed"
    assert context.health.for_url(target.url) is target.health
