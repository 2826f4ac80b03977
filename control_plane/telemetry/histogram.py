"""Bucketed latency counts that add up across data planes, and quantiles read from them.

Percentiles of a fleet cannot be averaged from each replica's percentiles;
bucket counts can be added, and a quantile estimated from the sum. The
estimate interpolates linearly inside the bucket that holds the rank, as
Prometheus's ``histogram_quantile`` does, so the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BucketCounts:
    bounds: tuple[float, ...]  # upper bounds in seconds; the last count is the +Inf bucket
    counts: tuple[int, ...]  # per bucket, len(bounds) + 1
    sum: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts)

    def plus(self, other: BucketCounts) -> BucketCounts:
        if other.bounds != self.bounds:
            raise ValueError("histograms with different buckets do not add up")
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return BucketCounts(self.bounds, counts, self.sum + other.sum)

    def minus(self, earlier: BucketCounts) -> BucketCounts:
        """What was counted since ``earlier`` (same process, so never negative)."""
        if earlier.bounds != self.bounds:
            return self
        counts = tuple(max(0, a - b) for a, b in zip(self.counts, earlier.counts, strict=True))
        return BucketCounts(self.bounds, counts, max(0.0, self.sum - earlier.sum))

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds; None without observations."""
        total = self.total
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                if index == len(self.bounds):  # above the last bound: that bound is all we know
                    return self.bounds[-1] if self.bounds else None
                lower = self.bounds[index - 1] if index else 0.0
                upper = self.bounds[index]
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
        return self.bounds[-1] if self.bounds else None
