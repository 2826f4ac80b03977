"""Admin documents from bytes: JSON or YAML, with limits a hostile document cannot get past.

The size is capped by the REST server (4 MiB). Nesting is capped here at 64
levels (no config is deeper than a handful): Python's YAML composer recurses once
a level, so a 50,000-deep document would exhaust the stack. YAML is read with
libyaml (PyYAML's C loader) when present; either way the caller parses large
documents off the event loop.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from control_plane.errors import InvalidInput

MAX_DEPTH = 64
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_document(raw: bytes, *, as_yaml: bool) -> Any:
    """The document ``raw`` holds; InvalidInput (400) naming what is wrong with it."""
    if not raw.strip():
        raise InvalidInput("body: the request body is empty; send a JSON object", field="body")
    if as_yaml:
        return _yaml(raw)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc).lower():
            raise _too_deep() from None
        raise InvalidInput(f"body: not valid JSON: {exc}", field="body") from None
    _check_depth(document)
    return document


def _yaml(raw: bytes) -> Any:
    try:
        document = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own limit, 1000 levels
            raise _too_deep() from None
        raise InvalidInput(f"body: not valid YAML: {exc}", field="body") from None
    except RecursionError:  # the pure-Python loader, without libyaml
        raise _too_deep() from None
    _check_depth(document)
    return document


def _check_depth(document: Any) -> None:
    """Level by level, each container once a level: YAML aliases make the document a graph
    whose paths can be exponentially many, but its containers are no more than were written."""
    level: dict[int, Any] = {id(document): document}
    for _ in range(MAX_DEPTH):
        below: dict[int, Any] = {}
        for node in level.values():
            if isinstance(node, dict | list):
                for child in node.values() if isinstance(node, dict) else node:
                    if isinstance(child, dict | list):
                        below[id(child)] = child
        if not below:
            return
        level = below
    raise _too_deep()


def _too_deep() -> InvalidInput:
    return InvalidInput(
        f"body: the document is nested deeper than {MAX_DEPTH} levels; no config needs that",
        field="body",
    )
