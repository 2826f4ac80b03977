"""Request matchers compiled from a snapshot: headers and hosts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from data_plane.runtime.regex import LinearRegex

HeaderKind = Literal["exact", "regex", "present"]


@dataclass(frozen=True, slots=True)
class HeaderMatcher:
    name: str
    kind: HeaderKind
    value: str = ""
    pattern: LinearRegex | None = None
    invert: bool = False

    def matches(self, headers: Mapping[str, str]) -> bool:
        actual = headers.get(self.name)
        if self.kind == "present":
            found = actual is not None
        elif actual is None:
            found = False
        elif self.kind == "exact":
            found = actual == self.value
        else:
            assert self.pattern is not None
            found = self.pattern.fullmatch(actual) is not None
        return found != self.invert


@dataclass(frozen=True, slots=True)
class HostMatcher:
    """Exact names and ``*.suffix`` wildcards; the port is ignored, case is not significant."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]

    @classmethod
    def of(cls, hosts: list[str]) -> HostMatcher | None:
        if not hosts:
            return None
        return cls(
            exact=frozenset(h for h in hosts if not h.startswith("*.")),
            suffixes=tuple(h[1:] for h in hosts if h.startswith("*.")),
        )

    def matches(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host.lower()
        return name in self.exact or any(name.endswith(s) for s in self.suffixes)
