"""A retry budget: retries in flight stay under 20 % of the requests in flight (with a small floor),
so a failing fleet is not hit by a retry storm on top of its load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RetryBudget:
    ratio: float = 0.2
    floor: int = 3
    active_requests: int = 0
    active_retries: int = 0

    def allows_retry(self) -> bool:
        return self.active_retries < max(self.floor, int(self.ratio * self.active_requests))
