"""JWT verification with PyJWT: pinned algorithms, issuer, audience, required claims, leeway.

JWKS providers take their keys from a JwksKeys cache (data_plane.security.jwks):
a token with a known ``kid`` never waits on a fetch, and unknown ones fetch the
set at most once per cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from data_plane.proxy.headers import MAX_WRITTEN_VALUE, is_safe_value
from data_plane.security.jwks import JwksFetcher, JwksKeys, UnknownSigningKey
from protos import snapshot_pb2 as pb

_HMAC = ("HS256", "HS384", "HS512")


class TokenRejected(Exception):
    """Why a token was refused (goes into the 401 body, never the token itself)."""


@dataclass(frozen=True, slots=True)
class JwtVerifier:
    name: str
    algorithms: tuple[str, ...]
    key: Any  # the HMAC secret (bytes) or the public key (PEM); None with JWKS
    jwks: JwksKeys | None
    issuer: str | None
    audiences: tuple[str, ...]
    leeway: float
    required: tuple[str, ...]
    consumer_claim: str

    @classmethod
    def compile(cls, provider: pb.JwtProvider, jwks: JwksFetcher | None = None) -> JwtVerifier:
        """``jwks`` holds the key caches of JWKS URLs across snapshots."""
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
            jwks=(jwks or JwksFetcher()).keys(provider.jwks_url) if provider.jwks_url else None,
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
                kid = jwt.get_unverified_header(token).get("kid")
                key = (await self.jwks.signing_key(kid if isinstance(kid, str) else None)).key
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(self.algorithms),
                issuer=self.issuer,
                audience=list(self.audiences) or None,
                leeway=self.leeway,
                options={"require": list(self.required), "verify_aud": bool(self.audiences)},
            )
        except UnknownSigningKey as exc:
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
