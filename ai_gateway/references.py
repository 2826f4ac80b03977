"""Secrets in a config document written as references, resolved where ``apply`` runs.

``${env:NAME}`` is the environment variable NAME; ``${file:PATH}`` is the file's text without
its final newline (a mounted Kubernetes secret, a Docker secret), PATH relative to the current
directory. So a document can live in git without a secret in it; ``export`` never writes one
in clear either (it writes ``<redacted>``, which ``apply`` reads as "keep the stored one").
A ``${NAME}`` without ``env:`` is left alone: a target's ``auth`` value is resolved by the
data plane from its own environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

REFERENCE = re.compile(r"\$\{(env|file):([^}]{1,4096})\}")
MAX_FILE_BYTES = 64 << 10


def resolve_references(document: Any, where: str = "") -> Any:
    """``document`` with every reference in its strings replaced; ValueError naming the
    field and the reference that cannot be resolved."""
    if isinstance(document, dict):
        return {
            k: resolve_references(v, f"{where}.{k}" if where else str(k))
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [resolve_references(v, f"{where}[{i}]") for i, v in enumerate(document)]
    if isinstance(document, str) and "${" in document:
        return REFERENCE.sub(lambda match: _value(match, where or "(document)"), document)
    return document


def _value(match: re.Match[str], where: str) -> str:
    kind, name = match.group(1), match.group(2).strip()
    if kind == "env":
        value = os.environ.get(name)
        if value is None:
            raise ValueError(f"{where}: ${{env:{name}}} is not set; export {name}=... first")
        return value
    path = Path(name).expanduser()
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{where}: ${{file:{name}}} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{where}: ${{file:{name}}} is over 64 KiB; a secret is not that long")
    try:
        return raw.decode().removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: ${{file:{name}}} is not UTF-8 text") from None
