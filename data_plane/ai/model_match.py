"""Which models a route serves: exact names and ``*`` globs, matched in time linear in the name.

A glob is translated to RE2 (``*`` is any run of characters, everything else
literal), so ``llama-3*`` cannot make matching backtrack however the client
writes its model's name.
"""

from __future__ import annotations

import re

from data_plane.runtime.regex import LinearRegex, compile_regex

MAX_MODELS = 256


def check_model_pattern(pattern: str) -> str:
    """A name or a glob as written in ``models:``; ValueError saying what is wrong."""
    if not 0 < len(pattern) <= 256:
        raise ValueError(f"model {pattern!r} must be 1-256 characters")
    if pattern != pattern.strip() or not pattern.isprintable():
        raise ValueError(
            f"model {pattern!r} holds a control character or surrounding spaces; remove them"
        )
    if pattern.strip("*") == "" and pattern != "*":
        raise ValueError(f"model {pattern!r}: write '*' for any model")
    return pattern


class ModelMatcher:
    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self.names = frozenset(p for p in patterns if "*" not in p)
        globs = [p for p in patterns if "*" in p]
        self._glob: LinearRegex | None = (
            compile_regex("|".join(_glob_regex(g) for g in globs)) if globs else None
        )

    def matches(self, model: str) -> bool:
        if model in self.names:
            return True
        return self._glob is not None and self._glob.fullmatch(model) is not None


def _glob_regex(glob: str) -> str:
    return "(?:" + ".*".join(re.escape(part) for part in glob.split("*")) + ")"
