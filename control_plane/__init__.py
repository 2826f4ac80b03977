"""The control plane: the only writer of configuration; streams snapshots to data planes."""

__version__ = "0.1.0"
