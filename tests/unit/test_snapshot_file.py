"""The on-disk snapshot: written whole, read back only when intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_plane.errors import CacheFileInvalid
from data_plane.sync.snapshot_file import read_snapshot, write_snapshot
from protos import snapshot_pb2 as pb


def snapshot() -> pb.Snapshot:
    return pb.Snapshot(
        cluster="aimlops",
        version="3-abc",
        revision=3,
        routes=[
            pb.Route(
                name="predict",
                path=pb.PathMatch(value="/predict"),
                targets=[pb.Target(url="http://ai-service:8080", weight=1)],
            )
        ],
    )


def test_round_trip_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "snapshot-aimlops.bin"
    write_snapshot(path, snapshot())
    assert read_snapshot(path) == snapshot()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), "checksum mismatch"),
        (lambda data: data[:20], "bad header"),
        (lambda data: b"garbage" + data, "bad header"),
    ],
)
def test_damaged_files_are_refused(tmp_path: Path, damage: object, words: str) -> None:
    path = tmp_path / "snapshot-aimlops.bin"
    write_snapshot(path, snapshot())
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(CacheFileInvalid, match=words):
        read_snapshot(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CacheFileInvalid, match="no cached snapshot"):
        read_snapshot(tmp_path / "nope.bin")
