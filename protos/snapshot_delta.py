"""Incremental snapshots: what changed from one version to the next.

The control plane makes a delta once per pair of versions (``make_delta``) and the data plane
applies it to the snapshot it holds (``apply_delta``). Written here because the format is this
product's own: Envoy's delta xDS sends resources by name in no order, but a route table's
order matters (routes with one path are tried in declared order), so each added or changed
item carries its index in the new list and the items not named keep their relative order. When
the untouched items moved, no delta is made and the whole snapshot goes instead.

Applied, the result is checked against the content hash its version ends with, so a data plane
never serves a snapshot that differs from the one the control plane built: a mismatch is a
NACK, and the control plane answers a NACKed delta with the whole snapshot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from protos import discovery_pb2 as dpb
from protos import snapshot_pb2 as pb

KEYED_LISTS = ("routes", "security", "consumers")  # the lists a delta carries item by item


class DeltaRejected(ValueError):
    """A delta that does not apply to the snapshot held; the reason is the NACK's."""


def content_digest(snapshot: pb.Snapshot) -> str:
    """What a version ends with: a hash of the snapshot's content, its version left out.

    Clears and restores ``snapshot.version``, so only for a snapshot the caller owns."""
    version, snapshot.version = snapshot.version, ""
    try:
        return hashlib.sha256(snapshot.SerializeToString(deterministic=True)).hexdigest()[:16]
    finally:
        snapshot.version = version


def version_of(snapshot: pb.Snapshot) -> str:
    return f"{snapshot.revision}-{content_digest(snapshot)}"


@dataclass(frozen=True, slots=True)
class KeyedItems:
    ids: list[str]  # in the snapshot's order
    encoded: dict[str, bytes]  # id -> the item, serialised deterministically


@dataclass(frozen=True, slots=True)
class SnapshotIndex:
    """One version's keyed items as bytes: all a delta from this version needs, at a
    fraction of the snapshot's memory (an unchanged item shares the previous index's bytes)."""

    version: str
    lists: dict[str, KeyedItems]

    @classmethod
    def of(
        cls,
        snapshot: pb.Snapshot,
        previous: SnapshotIndex | None = None,
        route_bytes: dict[str, bytes] | None = None,
    ) -> SnapshotIndex:
        """``route_bytes``: each route's encoding by id in the snapshot's order, when the
        caller has them (the control plane's build keeps each route's): not made again."""
        lists = {}
        for name in KEYED_LISTS:
            items = getattr(snapshot, name)
            if name == "routes" and route_bytes is not None and len(route_bytes) == len(items):
                lists[name] = KeyedItems(list(route_bytes), route_bytes)
                continue
            known = previous.lists[name].encoded if previous is not None else {}
            ids: list[str] = []
            encoded: dict[str, bytes] = {}
            for item in items:
                data: bytes = item.SerializeToString(deterministic=True)
                kept = known.get(item.id)
                encoded[item.id] = kept if kept is not None and kept == data else data
                ids.append(item.id)
            lists[name] = KeyedItems(ids, encoded)
        return cls(snapshot.version, lists)


def make_delta(
    base: SnapshotIndex, snapshot: pb.Snapshot, index: SnapshotIndex
) -> dpb.SnapshotDelta | None:
    """``snapshot`` (whose index is ``index``) as changes to ``base``; None when a delta
    cannot say it (an id twice in a list, untouched items reordered)."""
    delta = dpb.SnapshotDelta(base_version=base.version)
    delta.head.CopyFrom(
        pb.Snapshot(**{f.name: v for f, v in snapshot.ListFields() if f.name not in KEYED_LISTS})
    )
    for name in KEYED_LISTS:
        old, new = base.lists[name], index.lists[name]
        if len(new.encoded) != len(new.ids) or len(old.encoded) != len(old.ids):
            return None
        before, after = old.encoded, new.encoded
        changed = [
            position
            for position, item_id in enumerate(new.ids)
            if (kept := before.get(item_id)) is not (made := after[item_id]) and kept != made
        ]
        moved = {new.ids[p] for p in changed}
        untouched_old = [i for i in old.ids if i in new.encoded and i not in moved]
        untouched_new = [i for i in new.ids if i not in moved]
        if untouched_old != untouched_new:
            return None
        changes = getattr(delta, name)
        changes.removed.extend(i for i in old.ids if i not in new.encoded)
        items = getattr(snapshot, name)
        changes.upserted.extend(items[p] for p in changed)
        changes.positions.extend(changed)
    return delta


def apply_delta(base: pb.Snapshot, delta: dpb.SnapshotDelta) -> tuple[pb.Snapshot, set[str]]:
    """The snapshot ``delta`` describes, made from ``base`` (left as it is), and the ids of
    the routes it added, changed or removed; DeltaRejected when it does not give exactly
    the version it names."""
    if delta.base_version != base.version:
        raise DeltaRejected(
            f"incremental update from {delta.base_version!r}, but {base.version!r} is held"
        )
    head = delta.head
    if any(len(getattr(head, name)) for name in KEYED_LISTS):
        raise DeltaRejected("incremental update: its head carries list items")
    snapshot = pb.Snapshot()
    snapshot.CopyFrom(base)
    for field in pb.Snapshot.DESCRIPTOR.fields:
        if field.name not in KEYED_LISTS:
            snapshot.ClearField(field.name)
    snapshot.MergeFrom(head)
    changed_routes: set[str] = set()
    for name in KEYED_LISTS:
        changes = getattr(delta, name)
        touched = _apply_changes(getattr(snapshot, name), changes, name)
        if name == "routes":
            changed_routes = touched
    digest = head.version.partition("-")[2]
    if not digest or content_digest(snapshot) != digest:
        raise DeltaRejected(
            f"incremental update to {head.version!r} applied to {base.version!r} does not "
            "give that version's content"
        )
    return snapshot, changed_routes


def _apply_changes(items: Any, changes: Any, name: str) -> set[str]:
    """Apply one list's removals and upserts in place; the ids they touched."""
    if len(changes.positions) != len(changes.upserted):
        raise DeltaRejected(f"incremental update: {name} has positions for some items only")
    touched = set(changes.removed) | {item.id for item in changes.upserted}
    for position in reversed([p for p, item in enumerate(items) if item.id in touched]):
        items.pop(position)
    for position, item in sorted(
        zip(changes.positions, changes.upserted, strict=True), key=lambda p: p[0]
    ):
        if position > len(items):
            raise DeltaRejected(f"incremental update: {name} position {position} is past the end")
        items.insert(position, item)
    return touched
