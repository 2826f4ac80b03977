"""The last applied snapshot on disk, so a data plane can start without the control plane.

Format: an 8-byte magic, the SHA-256 of the payload, then the serialised
Snapshot. Written to a temporary file, fsynced, renamed over the old one
(and the directory fsynced), so a crash leaves the old file or the new one,
never half of either. A file whose checksum does not match is refused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from google.protobuf.message import DecodeError

from data_plane.errors import CacheFileInvalid
from protos import snapshot_pb2 as pb

MAGIC = b"AIGWSNP1"
_DIGEST = 32


def cache_path(cache_dir: Path, cluster: str) -> Path:
    return cache_dir / f"snapshot-{cluster}.bin"


def write_snapshot(path: Path, snapshot: pb.Snapshot) -> None:
    payload = snapshot.SerializeToString(deterministic=True)
    data = MAGIC + hashlib.sha256(payload).digest() + payload
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_snapshot(path: Path) -> pb.Snapshot:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CacheFileInvalid(f"no cached snapshot at {path}") from None
    except OSError as exc:
        raise CacheFileInvalid(f"cannot read cached snapshot {path}: {exc.strerror}") from None
    if len(data) < len(MAGIC) + _DIGEST or not data.startswith(MAGIC):
        raise CacheFileInvalid(f"{path} is not a snapshot file (bad header)")
    digest, payload = data[len(MAGIC) : len(MAGIC) + _DIGEST], data[len(MAGIC) + _DIGEST :]
    if hashlib.sha256(payload).digest() != digest:
        raise CacheFileInvalid(f"{path} is corrupt (checksum mismatch); it will not be used")
    snapshot = pb.Snapshot()
    try:
        snapshot.ParseFromString(payload)
    except DecodeError as exc:
        raise CacheFileInvalid(f"{path} cannot be decoded: {exc}") from None
    return snapshot
