"""When a backend goes out of service for the fleet, and when it is back.

A backend is out when any data plane reports it ejected or failing its checks
(cooling after a 429 and being at a concurrency limit pass on their own); it is
back when no data plane reports it out any more. Only these changes become
webhook events, so a flapping fleet of many data planes says each thing once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OUT_OF_SERVICE = frozenset({"ejected", "failing-checks"})


@dataclass(frozen=True, slots=True)
class TargetTransition:
    cluster: str
    target: str
    healthy: bool
    state: str
    node: str  # the data plane whose report made the change

    @property
    def event_type(self) -> str:
        return "target.healthy" if self.healthy else "target.unhealthy"

    def event_data(self) -> dict[str, Any]:
        return {"target": self.target, "state": self.state, "reportedBy": self.node}


def out_of_service(health: list[dict[str, Any]]) -> dict[str, str]:
    """target -> state, for the backends a report says are out."""
    return {t["target"]: t["state"] for t in health if t["state"] in OUT_OF_SERVICE}


def health_changes(
    cluster: str,
    node: str,
    before: list[dict[str, Any]],
    now: list[dict[str, Any]],
    out_elsewhere: set[str],
) -> list[TargetTransition]:
    """What one data plane's new report changes for the fleet, given which backends other
    data planes report out."""
    was_out, is_out = out_of_service(before), out_of_service(now)
    changes = [
        TargetTransition(cluster, target, False, state, node)
        for target, state in sorted(is_out.items())
        if target not in was_out and target not in out_elsewhere
    ]
    changes += [
        TargetTransition(cluster, target, True, "healthy", node)
        for target in sorted(was_out)
        if target not in is_out and target not in out_elsewhere
    ]
    return changes
