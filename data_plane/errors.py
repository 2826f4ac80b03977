"""Errors of the data plane.

DataPlaneError
├── SnapshotRejected     a snapshot cannot be compiled (the reason is NACKed)
├── CacheFileInvalid     the on-disk snapshot is missing, truncated or corrupt
├── UnsafePath           a request path that cannot be normalised safely (400)
└── UnsafeHeaderValue    a head about to go upstream holds a control character (502, never sent)
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


class UnsafeHeaderValue(DataPlaneError):
    """Values the gateway writes are checked where they enter (claims, config); this is the
    last line of defence, so that no path forgotten there can split a head."""
