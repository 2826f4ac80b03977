"""Who calls: an API key or a JWT, per the endpoint's security policy.

A caller that passes is named on the exchange (``consumer``, which goes to the
backend as ``X-AI-Gateway-Consumer``) and its credential header is dropped
from the request: it is the gateway's, not the backend's.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDictProxy

from data_plane.filters import Next
from data_plane.metrics import AUTH_FAILURES
from data_plane.proxy.errors import refuse
from data_plane.proxy.exchange import Exchange
from data_plane.security.api_keys import KeyIndex
from data_plane.security.jwt_auth import JwtVerifier, TokenRejected

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ai-gateway"'}
TOKEN_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ai-gateway", error="invalid_token"'}


def bearer(headers: CIMultiDictProxy[str]) -> str | None:
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def denied(
    exchange: Exchange, status: int, code: str, message: str, headers: dict[str, str]
) -> web.Response:
    AUTH_FAILURES.labels(code).inc()
    return refuse(exchange, status, code, message, headers)


class ApiKeyAuthentication:
    """``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, found by its HMAC."""

    def __init__(self, keys: KeyIndex) -> None:
        self._keys = keys

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        headers = exchange.request.headers
        key, header = headers.get("X-API-Key"), "X-API-Key"
        if key is None:
            key, header = bearer(headers), "Authorization"
        if not key:
            return denied(
                exchange,
                401,
                "missing_api_key",
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                CHALLENGE,
            )
        entry = self._keys.find(key)
        if entry is None:
            return denied(exchange, 401, "invalid_api_key", "the API key is not valid", CHALLENGE)
        if KeyIndex.expired(entry):
            return denied(exchange, 401, "expired_api_key", "the API key has expired", CHALLENGE)
        if entry.routes and exchange.route_name not in entry.routes:
            return denied(
                exchange,
                403,
                "key_not_allowed",
                f"this API key may not call route {exchange.route_name}",
                {},
            )
        exchange.consumer, exchange.drop_headers = entry.consumer, (header,)
        exchange.key_id = entry.key_id
        return await next(exchange)


class JwtAuthentication:
    """A bearer JWT that one of the policy's providers verifies."""

    def __init__(self, verifiers: tuple[JwtVerifier, ...]) -> None:
        self._verifiers = verifiers

    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse:
        token = bearer(exchange.request.headers)
        if token is None:
            return denied(
                exchange,
                401,
                "missing_token",
                "a JWT is required: send 'Authorization: Bearer <token>'",
                CHALLENGE,
            )
        if not self._verifiers:
            return denied(
                exchange,
                401,
                "invalid_token",
                "no JWT provider is configured for this endpoint",
                TOKEN_CHALLENGE,
            )
        reasons = []
        for verifier in self._verifiers:
            try:
                consumer = await verifier.verify(token)
            except TokenRejected as exc:
                reasons.append(str(exc))
                continue
            exchange.consumer, exchange.drop_headers = consumer, ("Authorization",)
            return await next(exchange)
        return denied(
            exchange, 401, "invalid_token", f"the token was refused: {reasons[0]}", TOKEN_CHALLENGE
        )
