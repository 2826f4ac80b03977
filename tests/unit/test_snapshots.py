"""Snapshot versions and the cache's coalescing, without servers."""

from __future__ import annotations

import asyncio

from control_plane.domain.route import RouteSpec
from control_plane.domain.validation import parse
from control_plane.snapshot.builder import build
from control_plane.snapshot.cache import SnapshotCache
from control_plane.store.records import ClusterState, RouteRecord
from protos import snapshot_pb2 as pb


def build_snapshot(state: ClusterState) -> pb.Snapshot:
    return build(state).snapshot


def state(revision: int, *paths: str) -> ClusterState:
    routes = tuple(
        RouteRecord(
            f"id{i}", "c", f"r{i}", i, parse(RouteSpec, {"path": p, "target": "http://a"}), 0.0, 0.0
        )
        for i, p in enumerate(paths)
    )
    return ClusterState("c", revision, routes, (), {}, None)


def test_version_follows_content_and_revision() -> None:
    a = build_snapshot(state(1, "/a"))
    assert a.version == build_snapshot(state(1, "/a")).version
    assert a.version != build_snapshot(state(1, "/b")).version
    assert a.version != build_snapshot(state(2, "/a")).version


async def test_a_slow_reader_gets_the_latest_not_a_backlog() -> None:
    cache = SnapshotCache()
    await cache.set(build_snapshot(state(0)))
    first = cache.get("c")
    assert first is not None
    for revision in range(1, 11):
        await cache.set(build_snapshot(state(revision, *(f"/r{i}" for i in range(revision)))))
    latest = await asyncio.wait_for(cache.wait_for_change("c", first.version), 1)
    assert latest.revision == 10


async def test_waiters_wake_on_change_only() -> None:
    cache = SnapshotCache()
    snapshot = build_snapshot(state(0))
    await cache.set(snapshot)
    waiter = asyncio.create_task(cache.wait_for_change("c", snapshot.version))
    await asyncio.sleep(0.01)
    assert not await cache.set(build_snapshot(state(0)))  # same version: no wake-up
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await cache.set(build_snapshot(state(1, "/x")))
    assert (await asyncio.wait_for(waiter, 1)).revision == 1


async def test_an_older_revision_built_late_does_not_replace_a_newer_one() -> None:
    """A rebuild that read revision 1 and finished after revision 2 was published (the build
    runs in a thread) is not served; one of the same revision (a pod came) is."""
    cache = SnapshotCache()
    assert await cache.set(build_snapshot(state(2, "/new")))
    assert not await cache.set(build_snapshot(state(1, "/old")))
    current = cache.get("c")
    assert current is not None and current.revision == 2
    assert await cache.set(build_snapshot(state(2, "/new", "/pod")))


async def test_a_cancelled_waiter_leaves_the_others_waiting() -> None:
    cache = SnapshotCache()
    snapshot = build_snapshot(state(0))
    await cache.set(snapshot)
    gone = asyncio.create_task(cache.wait_for_change("c", snapshot.version))
    staying = asyncio.create_task(cache.wait_for_change("c", snapshot.version))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.sleep(0.01)
    await cache.set(build_snapshot(state(1, "/x")))
    assert (await asyncio.wait_for(staying, 1)).revision == 1
