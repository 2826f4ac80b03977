"""A retry budget: retries in flight stay under 20 % of the requests in flight (with a floor),
so a failing fleet is not hit by a retry storm on top of its load.

The floor is 10, not Envoy's 3: when a backend dies, every request in flight to it
fails at the same moment and each deserves its one retry on a healthy target; at low
concurrency 3 turned such a burst into client errors. Above 50 requests in flight the
20 % governs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RetryBudget:
    ratio: float = 0.2
    floor: int = 10
    active_requests: int = 0
    active_retries: int = 0

    def allows_retry(self) -> bool:
        return self.active_retries < max(self.floor, int(self.ratio * self.active_requests))
