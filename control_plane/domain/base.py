"""The base every config model shares: camelCase on the wire, snake_case in code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

MAX_TEXT = 16_384  # the longest string a config field takes (a PEM key is ~1-3 KiB)


class SpecModel(BaseModel):
    """Immutable, strict about unknown keys (a typo is an error, not a silent no-op).

    Both spellings are read (``stripPrefix`` and ``strip_prefix``); camelCase
    is written, as in the product's REST examples (``authType``, ``rateLimit``).
    Types are strict: ``"5"`` is not a number and ``1`` is not ``true``, so that what
    the JSON Schema and the OpenAPI document say is what the server takes.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        str_max_length=MAX_TEXT,
        strict=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _arrays_as_tuples(cls, value: Any) -> Any:
        """JSON and YAML arrays arrive as lists; strict fields hold tuples (models are frozen)."""
        return tuple(value) if isinstance(value, list) else value
