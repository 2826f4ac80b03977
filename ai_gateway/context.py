"""Where the SDK and CLI find the gateway: arguments, then environment, then the saved context.

The context is saved by ``ai-gateway-cli init`` in ``$AI_GATEWAY_HOME``
(default ``~/.config/ai-gateway``): ``context.json`` holds the URL, cluster
and config path; ``credentials`` holds the key and is readable by its owner only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8081"
DEFAULT_CLUSTER = "default"


def home() -> Path:
    explicit = os.environ.get("AI_GATEWAY_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ai-gateway"


@dataclass(frozen=True, slots=True)
class SavedContext:
    url: str | None = None
    cluster: str | None = None
    config: str | None = None

    @classmethod
    def load(cls) -> SavedContext:
        path = home() / "context.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        return cls(**{k: data.get(k) for k in ("url", "cluster", "config")})

    def save(self) -> Path:
        directory = home()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / "context.json"
        _atomic_write(path, json.dumps(asdict(self), indent=2) + "\n", mode=0o644)
        return path


def load_saved_key() -> str | None:
    try:
        return (home() / "credentials").read_text().strip() or None
    except OSError:
        return None


def save_key(key: str) -> Path:
    directory = home()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "credentials"
    _atomic_write(path, key + "\n", mode=0o600)
    return path


def _atomic_write(path: Path, text: str, *, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def resolve_url(url: str | None) -> str:
    return (
        url or os.environ.get("AI_GATEWAY_URL") or SavedContext.load().url or DEFAULT_URL
    ).rstrip("/")


def resolve_key(api_key: str | None) -> str:
    key = api_key or os.environ.get("AI_GATEWAY_API_KEY") or load_saved_key()
    if not key:
        raise ValueError("API key required")
    return key


def resolve_cluster(cluster: str | None) -> str:
    return (
        cluster
        or os.environ.get("AI_GATEWAY_CLUSTER")
        or SavedContext.load().cluster
        or DEFAULT_CLUSTER
    )
