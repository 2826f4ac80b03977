"""JWT verification with PyJWT: pinned algorithms, issuer, audience, required claims, leeway.

JWKS providers fetch their keys through PyJWT's PyJWKClient, off the event
loop: the key set is cached for 5 minutes and refetched when a token names an
unknown ``kid``, at most once per JWKS_REFRESH_COOLDOWN.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import jwt

from data_plane.proxy.headers import MAX_WRITTEN_VALUE, is_safe_value
from protos import snapshot_pb2 as pb

_HMAC = ("HS256", "HS384", "HS512")
# An unknown `kid` refetches the key set at most this often: hostile kids cannot hammer the issuer.
JWKS_REFRESH_COOLDOWN = 30.0


class TokenRejected(Exception):
    """Why a token was refused (goes into the 401 body, never the token itself)."""


@dataclass(frozen=True, slots=True)
class JwtVerifier:
    name: str
    algorithms: tuple[str, ...]
    key: Any  # the HMAC secret (bytes) or the public key (PEM); None with JWKS
    jwks: jwt.PyJWKClient | None
    issuer: str | None
    audiences: tuple[str, ...]
    leeway: float
    required: tuple[str, ...]
    consumer_claim: str

    @classmethod
    def compile(cls, provider: pb.JwtProvider, tls: ssl.SSLContext | None = None) -> JwtVerifier:
        """``tls`` verifies an HTTPS ``jwks_url`` (the data plane's ``--upstream-ca``)."""
        hmac = provider.algorithms[0] in _HMAC if provider.algorithms else False
        key: Any = provider.hmac_secret if hmac else None
        if not hmac and provider.public_key_pem:
            # Parse the PEM once per snapshot, not once per request.
            algorithm = jwt.algorithms.get_default_algorithms()[provider.algorithms[0]]
            key = algorithm.prepare_key(provider.public_key_pem)
        return cls(
            name=provider.name,
            algorithms=tuple(provider.algorithms),
            key=key,
            jwks=jwt.PyJWKClient(
                provider.jwks_url,
                lifespan=300,
                timeout=5,
                cooldown_duration=JWKS_REFRESH_COOLDOWN,
                ssl_context=tls,
            )
            if provider.jwks_url
            else None,
            issuer=provider.issuer or None,
            audiences=tuple(provider.audiences),
            leeway=provider.leeway_seconds,
            required=tuple(provider.required_claims),
            consumer_claim=provider.consumer_claim or "sub",
        )

    async def verify(self, token: str) -> str:
        """The consumer the token names, or TokenRejected."""
        key = self.key
        try:
            if self.jwks is not None:
                key = (await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)).key
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(self.algorithms),
                issuer=self.issuer,
                audience=list(self.audiences) or None,
                leeway=self.leeway,
                options={"require": list(self.required), "verify_aud": bool(self.audiences)},
            )
        except jwt.PyJWKClientError as exc:
            raise TokenRejected(f"no signing key for this token: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(str(exc) or type(exc).__name__) from None
        consumer = claims.get(self.consumer_claim)
        if not isinstance(consumer, str) or not consumer:
            raise TokenRejected(f"the token has no '{self.consumer_claim}' claim naming the caller")
        if not is_safe_value(consumer):
            # A signature proves who issued a claim, not that it is safe to write into a head:
            # an identity provider may sign a field its users edit.
            raise TokenRejected(
                f"the token's '{self.consumer_claim}' claim cannot name a consumer: it must be "
                f"1-{MAX_WRITTEN_VALUE} characters with no control characters and no leading "
                "or trailing space"
            )
        return consumer
