"""Errors of the data plane.

DataPlaneError
├── SnapshotRejected     a snapshot cannot be compiled (the reason is NACKed)
├── CacheFileInvalid     the on-disk snapshot is missing, truncated or corrupt
└── UnsafePath           a request path that cannot be normalised safely (400)
"""

from __future__ import annotations


class DataPlaneError(Exception):
    pass


class SnapshotRejected(DataPlaneError):
    pass


class CacheFileInvalid(DataPlaneError):
    pass


class UnsafePath(DataPlaneError):
    pass
