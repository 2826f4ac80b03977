"""Application logs as one JSON object per line, never blocking the event loop.

The control plane logs as the data plane does (``data_plane.logs``): a bounded
queue and a writer thread, so a stalled log reader drops lines instead of
freezing the admin API and the snapshot streams.
"""

from __future__ import annotations

from data_plane.logs import configure_logging as _configure_logging
from data_plane.logs import set_level as _set_level


def configure_logging(level: str) -> None:
    _configure_logging(level, quiet=("aiohttp.access", "alembic"))


def set_level(level: str) -> None:
    """Change the level at run time; a name logging does not know is ignored."""
    _set_level(level)
