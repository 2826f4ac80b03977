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


def resolve_references(document: Any) -> Any:
    """``document`` with the references in its secrets replaced: a target's ``auth.value``
    (under ``routes``, fallbacks included), ``jwtProviders[].secret`` and
    ``consumers[].keys[].key``. A reference anywhere else is refused: a document from
    someone else must not copy this machine's environment or files into a callback URL, a
    header or a tag. ValueError naming the field and the reference."""
    if not isinstance(document, dict):
        return document
    return {key: _walk(value, key, _SECRETS.get(key)) for key, value in document.items()}


# Where secrets are, from the top: a path of keys ("*": any item of a list or any key).
_SECRETS: dict[str, Any] = {
    "routes": "auth.value",  # any auth: {value} below routes
    "jwtProviders": ("*", "secret"),
    "consumers": ("*", "keys", "*", "key"),
}


def _walk(value: Any, where: str, secret: Any) -> Any:
    """``secret``: "auth.value" (any ``auth`` mapping's ``value`` below), a path still to
    follow, or None (no secret below)."""
    if isinstance(value, dict):
        return {k: _walk(v, f"{where}.{k}", _below(secret, k, value)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, f"{where}[{i}]", _below(secret, "*", value)) for i, v in enumerate(value)]
    if isinstance(value, str) and REFERENCE.search(value):
        if secret != ():
            raise ValueError(
                f"{where}: references (${{env:...}}, ${{file:...}}) are read only in secrets: "
                "a target's auth.value, jwtProviders[].secret and consumers[].keys[].key"
            )
        return REFERENCE.sub(lambda match: _value(match, where), value)
    return value


def _below(secret: Any, key: str, container: Any) -> Any:
    if secret == "auth.value":
        return _AUTH if key == "auth" and isinstance(container, dict) else secret
    if secret is _AUTH:
        return () if key == "value" else None
    if isinstance(secret, tuple) and secret and secret[0] in ("*", key):
        return secret[1:]
    return None


_AUTH: tuple[str] = ("auth",)  # inside an auth mapping: its value is the secret


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
