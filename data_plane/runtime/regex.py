"""Regexes from config run on RE2 (google-re2), as Envoy's do: linear in the input, always.

Python's ``re`` backtracks: a header regex like ``(a+)+$`` and a 27-character
header held the event loop for seconds, before authentication. RE2 has no
backreferences or lookaround, so a pattern that needs them is refused when
the config is written (422 naming the field) and again when a snapshot
compiles. Both planes compile through here, so they agree on what a pattern is.
"""

from __future__ import annotations

from typing import Protocol, cast

import re2

MAX_PATTERN_LENGTH = 1024
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is an answer to the caller, not a log line
_OPTIONS.max_mem = 8 << 20  # RE2's own default, stated: a pattern needing more is refused


class LinearRegex(Protocol):
    @property
    def pattern(self) -> str: ...

    def fullmatch(self, text: str) -> object | None: ...


def compile_regex(pattern: str) -> LinearRegex:
    """The pattern compiled by RE2; ValueError saying why when RE2 cannot take it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the pattern is over {MAX_PATTERN_LENGTH} characters")
    try:
        return cast(LinearRegex, re2.compile(pattern, options=_OPTIONS))
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"{reason} (patterns run on RE2: no backreferences or lookaround)"
        ) from None
