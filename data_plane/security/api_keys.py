"""API keys by their HMAC: one dict lookup per request, and the plaintext never on this side."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from protos import snapshot_pb2 as pb


@dataclass(frozen=True, slots=True)
class KeyEntry:
    consumer: str
    key_id: str
    expires_at: float  # 0: never
    routes: frozenset[str]  # empty: every route


class KeyIndex:
    def __init__(self, secret: bytes, consumers: list[pb.Consumer]) -> None:
        self._secret = secret
        self._entries: dict[bytes, KeyEntry] = {
            key.hash: KeyEntry(
                consumer.name, key.id, float(key.expires_at_unix), frozenset(key.route_scope)
            )
            for consumer in consumers
            for key in consumer.keys
        }

    def find(self, key: str) -> KeyEntry | None:
        if not self._entries or not self._secret:
            return None
        digest = hmac.new(
            self._secret, key.encode("utf-8", "surrogateescape"), hashlib.sha256
        ).digest()
        # A dict lookup on an HMAC: timing reveals nothing about any stored key's plaintext.
        return self._entries.get(digest)

    @staticmethod
    def expired(entry: KeyEntry) -> bool:
        return bool(entry.expires_at) and entry.expires_at <= time.time()
