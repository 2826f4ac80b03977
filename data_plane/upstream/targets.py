"""The backends of a route and how one is picked for a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    origin: str  # scheme://host:port: one keep-alive pool each
    base_path: str  # a path in the target URL is prepended to the request path
    weight: int
    priority: int
    scheme: str = "http"
    host: str = ""
    port: int = 80
    host_header: str = ""  # what the backend sees as Host: the URL's authority

    @classmethod
    def parse(cls, url: str, weight: int, priority: int) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"target '{url}' is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(
            url=url,
            origin=f"{parts.scheme}://{host}:{port}",
            base_path=parts.path.rstrip("/"),
            weight=weight,
            priority=priority,
            scheme=parts.scheme,
            host=host,
            port=port,
            host_header=parts.netloc,
        )


@dataclass(slots=True, eq=False)
class UpstreamGroup:
    """Smooth weighted round-robin over the highest-priority targets (nginx's algorithm).

    Built once per snapshot; ``pick`` is O(number of targets), which is small.
    """

    targets: tuple[Target, ...]
    _active: tuple[Target, ...] = ()
    _current: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        weighted = [t for t in self.targets if t.weight > 0]
        top = min(t.priority for t in weighted)
        self._active = tuple(t for t in weighted if t.priority == top)
        self._current = [0] * len(self._active)

    def pick(self) -> Target:
        active = self._active
        if len(active) == 1:
            return active[0]
        total = 0
        best = 0
        current = self._current
        for index, target in enumerate(active):
            current[index] += target.weight
            total += target.weight
            if current[index] > current[best]:
                best = index
        current[best] -= total
        return active[best]

    def fallbacks(self, tried: Target) -> list[Target]:
        """Other targets, same priority first: where a failed request may go next."""
        return sorted(
            (t for t in self.targets if t is not tried and t.weight > 0), key=lambda t: t.priority
        )
