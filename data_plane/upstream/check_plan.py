"""What an active health check does: a route's ``healthCheck``, compiled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CheckPlan:
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    expected: frozenset[int]
