"""The text rules of names and paths, once, for the validators and for the published schemas.

Each rule is written as a regular expression that means the same in Python
(validation, anchored with ``fullmatch``) and in ECMA-262 (JSON Schema and
OpenAPI ``pattern``), so the documents say exactly what the server takes.
"""

from __future__ import annotations

import re

NAME_TEXT = r"[a-z0-9][a-z0-9._-]{0,62}"  # routes, clusters, consumers, JWT providers
NAME = f"^{NAME_TEXT}$"
NAME_RE = re.compile(NAME_TEXT)

TAG_TEXT = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,62}"  # a tag on a route or policy: ai, team-a
TAG = f"^{TAG_TEXT}$"
TAG_RE = re.compile(TAG_TEXT)
MAX_TAGS = 32


def check_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Tags as written (``tags: [ai, mlops]``): each 1-63 letters, digits, '.', '_', ':' or
    '-', at most MAX_TAGS, none twice; ValueError naming the one that is not."""
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{len(tags)} tags; give at most {MAX_TAGS}")
    for tag in tags:
        if not TAG_RE.fullmatch(tag):
            raise ValueError(
                f"tag {tag[:64]!r}: use 1-63 letters, digits, '.', '_', ':' or '-', starting "
                "with a letter or digit"
            )
    if len(set(tags)) != len(tags):
        raise ValueError("a tag is given twice; give each once")
    return tags


_PCHAR = r"[A-Za-z0-9\-_~!$&'()*+,;=:@]"  # a path character other than '.' (RFC 3986)
# A segment that is neither '.' nor '..': it has a character other than a dot, or three dots.
_SEGMENT = rf"(?:\.*{_PCHAR}[A-Za-z0-9\-._~!$&'()*+,;=:@]*|\.{{3,}})"
CANONICAL_PATH_TEXT = rf"/(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?"  # no '//', '.', '..' or '%'
CANONICAL_PATH = f"^{CANONICAL_PATH_TEXT}$"
# An endpoint in a URL: '/' itself, or segments with or without the leading '/' and with any
# number of trailing ones (they are dropped).
ENDPOINT_PARAM_TEXT = rf"/|/?{_SEGMENT}(?:/{_SEGMENT})*/*"
ENDPOINT_PARAM = f"^(?:{ENDPOINT_PARAM_TEXT})$"
ENDPOINT_PARAM_RE = re.compile(ENDPOINT_PARAM_TEXT)
ENDPOINT_SEGMENT = f"^{_SEGMENT}$"  # one segment: an endpoint in a URL path parameter

HEADER_NAME_TEXT = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # an HTTP token (RFC 9110)
HEADER_NAME = f"^{HEADER_NAME_TEXT}$"
HEADER_NAME_RE = re.compile(HEADER_NAME_TEXT)
# A host name, or a leading '*.' wildcard; ASCII only, either case (it is compared lowered).
HOST_TEXT = (
    r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
HOST = f"^{HOST_TEXT}$"
HOST_RE = re.compile(HOST_TEXT)
# What a target or callback URL may look like at a glance; the rest (a host, a port in range,
# no credentials, query or fragment) is checked when it is parsed (422 says which).
URL_PREFIX = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$"


def any_case(*words: str) -> str:
    """A pattern that takes any of ``words`` in any letter case (ECMA-262 has no inline flags)."""

    def letters(word: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)

    return "|".join(letters(word) for word in words)


HTTP_METHOD = f"^(?:{any_case('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')})$"
_UNITS = any_case("second", "sec", "s", "minute", "min", "m", "hour", "h", "day", "d")
# 100/min, 10/s, 5 / hours; spaces and tabs around the parts; a bare number means per minute.
RATE_TEXT = rf"[ \t]*([0-9]{{1,9}})[ \t]*(?:/[ \t]*((?:{_UNITS})[Ss]?)[ \t]*)?"
RATE = f"^{RATE_TEXT}$"
RATE_RE = re.compile(RATE_TEXT)
DURATION_TEXT = r"[ \t]*([0-9]{1,12})[ \t]*([smhd])[ \t]*"  # 30d, 12h, 15m, 3600s
DURATION = f"^{DURATION_TEXT}$"
DURATION_RE = re.compile(DURATION_TEXT)
AUTH_SPELLING = f"^(?:{any_case('none', 'jwt', 'api-key', 'api_key', 'apikey', 'key')})$"
