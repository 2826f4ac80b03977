"""Consumers, their API keys, and the JWT issuers the gateway trusts."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from control_plane.domain.base import SpecModel
from control_plane.domain.patterns import DURATION, DURATION_RE, NAME, NAME_RE, TAG, check_tags
from control_plane.domain.route import REDACTED, check_target_url

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_KEY_LIFETIME = 3650 * 86_400  # ten years: beyond it, leave expiresIn out (never expires)


def check_name(name: str, what: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ValueError(
            f"'{name}' is not a valid {what} name: use 1-63 lower-case letters, digits, '.', '_' or '-'"
        )
    return name


class ConsumerSpec(SpecModel):
    name: str = Field(json_schema_extra={"pattern": NAME})
    tags: tuple[str, ...] = Field((), json_schema_extra={"items": {"pattern": TAG}})

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_name(name, "consumer")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        return check_tags(tags)


class ApiKeyRequest(SpecModel):
    """``expiresIn`` like ``30d`` (s, m, h, d); ``routes`` limits the key to those route names."""

    expires_in: str | None = Field(None, json_schema_extra={"pattern": DURATION})
    routes: tuple[str, ...] = ()

    @field_validator("expires_in")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None:
            return None
        seconds = _seconds(value)
        if seconds is None:
            raise ValueError(f"'{value}' is not a duration; write it like 30d, 12h, 15m or 3600s")
        if seconds < 1:
            raise ValueError(
                f"'{value}' is too short: a key must live at least 1s; leave expiresIn out "
                "for a key that never expires"
            )
        if seconds > MAX_KEY_LIFETIME:
            raise ValueError(
                f"'{value}' is over the longest lifetime, 3650d (ten years); leave expiresIn "
                "out for a key that never expires"
            )
        return value

    @property
    def expires_in_seconds(self) -> int | None:
        return None if self.expires_in is None else _seconds(self.expires_in)


def _seconds(duration: str) -> int | None:
    match = DURATION_RE.fullmatch(duration)
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _provider_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: ``audiences`` may be one string; algorithms are the supported ones."""
    audiences = schema["properties"]["audiences"]
    schema["properties"]["audiences"] = {"anyOf": [{"type": "string"}, audiences]}
    schema["properties"]["algorithms"]["items"] = {
        "type": "string",
        "enum": sorted(HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS),
    }


class JwtProviderSpec(SpecModel):
    """A trusted issuer. Algorithms are pinned; ``none`` is never accepted.

    HMAC algorithms need ``secret``; public-key algorithms need ``publicKey``
    (PEM) or ``jwksUrl``. One provider never mixes the two kinds, so a token
    signed with HS256 using the public key as the secret cannot pass.
    """

    model_config = ConfigDict(json_schema_extra=_provider_schema)

    name: str = Field(json_schema_extra={"pattern": NAME})
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = Field(min_length=1)
    secret: str | None = Field(None, repr=False)
    public_key: str | None = None
    jwks_url: str | None = None
    consumer_claim: str = "sub"
    leeway: float = Field(30.0, ge=0, le=600)
    required_claims: tuple[str, ...] = ("exp",)

    @model_validator(mode="before")
    @classmethod
    def _audience_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("audiences"), str):
            data = {**data, "audiences": [data["audiences"]]}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_name(name, "JWT provider")

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, algorithms: tuple[str, ...]) -> tuple[str, ...]:
        for algorithm in algorithms:
            if algorithm.lower() == "none":
                raise ValueError("'none' is never accepted: tokens must be signed")
            if algorithm not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS:
                raise ValueError(
                    f"'{algorithm}' is not a supported algorithm; use HS256/384/512, RS*, ES*, PS* or EdDSA"
                )
        kinds = {a in HMAC_ALGORITHMS for a in algorithms}
        if len(kinds) > 1:
            raise ValueError("do not mix HMAC (HS*) and public-key algorithms in one provider")
        return algorithms

    @field_validator("jwks_url")
    @classmethod
    def _jwks(cls, url: str | None) -> str | None:
        return None if url is None else check_target_url(url)

    @model_validator(mode="after")
    def _key_for_algorithms(self) -> JwtProviderSpec:
        hmac = self.algorithms[0] in HMAC_ALGORITHMS
        if hmac:
            if not self.secret or self.public_key or self.jwks_url:
                raise ValueError("HS* algorithms need secret (and no publicKey or jwksUrl)")
            if len(self.secret) < 32 and self.secret != REDACTED:  # REDACTED: keep_stored_secret
                raise ValueError("secret must be at least 32 characters for HMAC tokens")
        elif self.secret or bool(self.public_key) == bool(self.jwks_url):
            raise ValueError(
                "public-key algorithms need exactly one of publicKey (PEM) or jwksUrl, and no secret"
            )
        if self.public_key and "BEGIN" not in self.public_key:
            raise ValueError("publicKey must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
        return self

    def keep_stored_secret(self, stored: JwtProviderSpec | None, where: str) -> JwtProviderSpec:
        """This provider with a ``<redacted>`` secret (an exported document's) replaced by the
        stored provider's; ValueError when there is none to keep."""
        if self.secret != REDACTED:
            return self
        if stored is None or not stored.secret:
            raise ValueError(
                f"{where}secret is '<redacted>' but JWT provider '{self.name}' has no stored "
                "secret to keep; give it, as secret: ${env:NAME} or ${file:PATH}"
            )
        return self.model_copy(update={"secret": stored.secret})

    def redacted(self) -> dict[str, Any]:
        """What GET answers: never the secret."""
        document = self.model_dump(mode="json")
        if document.get("secret"):
            document["secret"] = REDACTED
        return document
