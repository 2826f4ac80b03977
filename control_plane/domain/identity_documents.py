"""Consumers and their API keys as a config document holds them (``consumers:``).

A key is written either by its ``id`` (an existing key: ``export`` writes these, with the
prefix, expiry and route scope, never the key or its hash) or by its ``key`` (the plaintext
of a key to import, usually a ``${env:NAME}`` reference the CLI resolves; the store keeps
only its HMAC, and a key already stored is recognised by it). A document that leaves a
consumer's ``keys`` out leaves its keys as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from control_plane.domain.base import SpecModel
from control_plane.domain.identity import ConsumerSpec

MIN_IMPORTED_KEY = 20  # characters: a shorter key is guessable


class KeyDocument(SpecModel):
    id: str | None = Field(None, max_length=32)
    key: str | None = Field(None, repr=False, max_length=512)
    prefix: str | None = Field(None, max_length=16)  # shown by export; not compared
    expires_at: str | None = Field(None, max_length=40)  # ISO 8601; None: never
    routes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_way_to_name_it(self) -> KeyDocument:
        if (self.id is None) == (self.key is None):
            raise ValueError(
                "give either id (a stored key, as export writes it) or key (one to import, "
                "like key: ${env:TEAM_A_KEY})"
            )
        if self.key is not None and len(self.key) < MIN_IMPORTED_KEY:
            raise ValueError(
                f"key: an imported key must be at least {MIN_IMPORTED_KEY} characters "
                "(openssl rand -hex 24 makes one)"
            )
        return self

    @field_validator("expires_at")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        """Kept as export writes it (UTC, ``Z``), so that one time written two ways is equal."""
        if value is None:
            return None
        moment = datetime.fromtimestamp(expires_at(value), UTC)
        return moment.isoformat().replace("+00:00", "Z")

    def expiry(self) -> float | None:
        return None if self.expires_at is None else expires_at(self.expires_at)


def expires_at(text: str) -> float:
    """'2027-01-01T00:00:00Z' -> its Unix time; ValueError naming the form to use."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expiresAt '{text}' is not an ISO 8601 time; write it like 2027-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"expiresAt '{text}' has no time zone; end it with Z for UTC")
    return moment.timestamp()


class ConsumerDocument(ConsumerSpec):
    """A consumer as the document holds it: its name and tags, and its keys (left out: kept)."""

    keys: tuple[KeyDocument, ...] | None = Field(None, max_length=1000)

    @field_validator("keys")
    @classmethod
    def _distinct(cls, keys: tuple[KeyDocument, ...] | None) -> tuple[KeyDocument, ...] | None:
        seen: dict[str, int] = {}
        for index, key in enumerate(keys or ()):
            name = key.id or f"key:{key.key}"
            if name in seen:
                raise ValueError(f"keys[{index}] and keys[{seen[name]}] are the same key")
            seen[name] = index
        return keys


def consumer_json(consumer: ConsumerDocument) -> dict[str, Any]:
    """As stored and compared: the key plaintext is never part of it (an imported key that is
    not stored yet shows as ``key: <redacted>``)."""
    document = consumer.model_dump(mode="json", exclude_none=True)
    for key in document.get("keys") or ():
        key.pop("prefix", None)
        if "key" in key:
            key["key"] = "<redacted>"
    return document
