"""Request-path normalisation, done before matching so every spelling meets the same route.

``/a//b``, ``/a/./b``, ``/a/x/../b`` and ``/%61/b`` all become ``/a/b``. An
encoded slash or backslash, or a NUL, could make the gateway and the backend
disagree about which resource is meant: such a path is refused (400), never
guessed at.
"""

from __future__ import annotations

import re

from data_plane.errors import UnsafePath

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_FORBIDDEN_ENCODED = frozenset({"2F", "5C", "00"})
_SIMPLE = re.compile(r"^(/[A-Za-z0-9\-_~!$&'()*+,;=:@]+(?:\.[A-Za-z0-9\-_~!$&'()*+,;=:@]+)*)*/?$")


def _decode_unreserved(match: re.Match[str]) -> str:
    code = match.group(1).upper()
    if code in _FORBIDDEN_ENCODED:
        raise UnsafePath(f"the path contains an encoded {chr(int(code, 16))!r} (%{code})")
    char = chr(int(code, 16))
    return char if char in _UNRESERVED else f"%{code}"


def normalise_path(raw: str) -> str:
    """Normalise the path part of a request target (no query)."""
    if _SIMPLE.match(raw) and "//" not in raw:
        return raw or "/"  # the common case: nothing to do
    if not raw.startswith("/"):
        raise UnsafePath("the path must start with '/'")
    if "\\" in raw or "\x00" in raw:
        raise UnsafePath("the path contains a backslash or NUL")
    if "%" in raw:
        raw = _PERCENT.sub(_decode_unreserved, raw)
        if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
            raise UnsafePath("the path contains a malformed percent-encoding")
    output: list[str] = []
    segments = raw.split("/")
    for segment in segments[1:]:
        if segment == "" or segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        output.append(segment)
    trailing = segments[-1] in ("", ".", "..") and bool(output)
    return "/" + "/".join(output) + ("/" if trailing else "")
