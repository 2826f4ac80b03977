"""One view of a data plane run as ``--workers N``: each worker's state, merged.

Counters and histograms are shared through prometheus-client's
multiprocess mode (a memory-mapped file per worker). Readings taken at
scrape time (backend health, the applied config, requests in flight) are
each worker's own, so every worker writes its state beside those files once
a second and whichever worker answers a scrape merges them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from data_plane.metrics import StateCollector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
STALE_SECONDS = 5.0  # a state file this old is from a worker that is gone
# When workers disagree about a backend, the worst state shows.
_SEVERITY = {"healthy": 0, "cooling": 1, "saturated": 2, "failing-checks": 3, "ejected": 4}


def shared_directory() -> Path | None:
    value = os.environ.get(MULTIPROCESS_ENV)
    return Path(value) if value else None


def publish(directory: Path, state: dict[str, Any]) -> None:
    """Write this worker's state (blocking: call it off the event loop)."""
    path = directory / f"state-{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({**state, "writtenAt": time.time()}))
    os.replace(temporary, path)


def gather(directory: Path, own: dict[str, Any]) -> list[dict[str, Any]]:
    """Every live worker's last state; this worker's own is read live."""
    states = [own]
    now = time.time()
    for path in directory.glob("state-*.json"):
        if path.name == f"state-{os.getpid()}.json":
            continue
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced, or a worker that just ended
        if now - float(state.get("writtenAt", 0)) <= STALE_SECONDS:
            states.append(state)
    return states


def merge(states: list[dict[str, Any]]) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = {}
    for state in states:
        for target in state.get("targets", []):
            seen = targets.get(target["target"])
            if seen is None:
                targets[target["target"]] = dict(target)
                continue
            if _SEVERITY.get(target["state"], 0) > _SEVERITY.get(seen["state"], 0):
                seen["state"] = target["state"]
            seen["consecutiveFailures"] = max(
                seen["consecutiveFailures"], target["consecutiveFailures"]
            )
            seen["timesEjected"] = max(seen["timesEjected"], target["timesEjected"])
            seen["inFlight"] += target["inFlight"]
    versions = sorted({str(s["version"]) for s in states if s.get("version")})
    return {
        "cluster": states[0].get("cluster"),
        "version": versions[-1] if versions else None,
        "versions": versions,
        "appliedAt": min(float(s.get("appliedAt") or 0.0) for s in states),
        "inFlight": sum(int(s.get("inFlight") or 0) for s in states),
        "clientConnections": sum(int(s.get("clientConnections") or 0) for s in states),
        "controlPlaneConnected": all(s.get("controlPlaneConnected") for s in states),
        "targets": list(targets.values()),
        "workers": len(states),
    }


def multiprocess_registry(directory: Path, own: Callable[[], dict[str, Any]]) -> CollectorRegistry:
    """What one worker's ``/metrics`` shows: every worker's counts and merged state."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(StateCollector(lambda: merge(gather(directory, own()))))
    return registry
