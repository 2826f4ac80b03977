"""The security step of the request path: authenticate, then rate-limit, per the endpoint's policy.

Its answer is either a refusal (a ready error response) or a pass carrying
the consumer (sent upstream in a header the gateway owns) and the rate-limit
headers for the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDictProxy

from data_plane.metrics import AUTH_FAILURES, RATE_LIMITED
from data_plane.proxy.errors import error_response
from data_plane.security.api_keys import KeyIndex
from data_plane.security.jwks import JwksFetcher
from data_plane.security.jwt_auth import JwtVerifier, TokenRejected
from data_plane.security.policies import CompiledPolicy, PolicyTable
from data_plane.security.rate_limit import RateLimiter
from protos import snapshot_pb2 as pb

CONSUMER_HEADER = "X-AI-Gateway-Consumer"


@dataclass(frozen=True, slots=True)
class Pass:
    consumer: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    drop_headers: tuple[str, ...] = ()  # the credential: it is the gateway's, not the backend's


def _bearer(headers: CIMultiDictProxy[str]) -> str | None:
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _denied(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str]
) -> web.Response:
    if status != 429:
        AUTH_FAILURES.labels(code).inc()
    return error_response(status, code, message, request_id=request_id, headers=headers)


class SecurityGuard:
    """Built once per snapshot; the rate limiter outlives snapshots (counts survive a config change)."""

    def __init__(
        self, snapshot: pb.Snapshot, limiter: RateLimiter, jwks: JwksFetcher | None = None
    ) -> None:
        self.cluster = snapshot.cluster
        self.policies = PolicyTable(list(snapshot.security))
        self.keys = KeyIndex(snapshot.api_key_secret, list(snapshot.consumers))
        self.verifiers = {p.name: JwtVerifier.compile(p, jwks) for p in snapshot.jwt_providers}
        self.limiter = limiter

    async def check(
        self, request: web.BaseRequest, path: str, route_name: str, client_ip: str, request_id: str
    ) -> Pass | web.Response:
        policy = self.policies.lookup(path)
        if policy is None:
            return Pass()
        consumer: str | None = None
        drop: tuple[str, ...] = ()
        if policy.auth == "api-key":
            outcome = self._api_key(request.headers, route_name, request_id)
            if isinstance(outcome, web.Response):
                return outcome
            consumer, drop = outcome
        elif policy.auth == "jwt":
            verified = await self._jwt(request.headers, policy, request_id)
            if isinstance(verified, web.Response):
                return verified
            consumer, drop = verified, ("Authorization",)
        headers: dict[str, str] = {}
        if policy.requests:
            who = f"consumer:{consumer}" if consumer else f"ip:{client_ip}"
            # Every part of the scope, so that clusters sharing one Redis never share a count;
            # no part holds the separator (names and endpoints are checked, claims are header-safe).
            key = f"{self.cluster}\x1f{policy.endpoint}\x1f{who}"
            decision = await self.limiter.hit(key, policy.requests, policy.period)
            headers = decision.headers()
            if not decision.allowed:
                RATE_LIMITED.labels(policy.endpoint).inc()
                return _denied(
                    429,
                    "rate_limit_exceeded",
                    f"rate limit of {policy.requests} per {policy.period:g}s exceeded for {policy.endpoint}; "
                    f"retry after {headers['Retry-After']}s",
                    request_id,
                    headers,
                )
        return Pass(consumer, headers, drop)

    def _api_key(
        self, headers: CIMultiDictProxy[str], route_name: str, request_id: str
    ) -> tuple[str, tuple[str, ...]] | web.Response:
        key, header = headers.get("X-API-Key"), "X-API-Key"
        if key is None:
            key, header = _bearer(headers), "Authorization"
        challenge = {"WWW-Authenticate": 'Bearer realm="ai-gateway"'}
        if not key:
            return _denied(
                401,
                "missing_api_key",
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                request_id,
                challenge,
            )
        entry = self.keys.find(key)
        if entry is None:
            return _denied(
                401, "invalid_api_key", "the API key is not valid", request_id, challenge
            )
        if KeyIndex.expired(entry):
            return _denied(401, "expired_api_key", "the API key has expired", request_id, challenge)
        if entry.routes and route_name not in entry.routes:
            return _denied(
                403,
                "key_not_allowed",
                f"this API key may not call route {route_name}",
                request_id,
                {},
            )
        return entry.consumer, (header,)

    async def _jwt(
        self, headers: CIMultiDictProxy[str], policy: CompiledPolicy, request_id: str
    ) -> str | web.Response:
        challenge = {"WWW-Authenticate": 'Bearer realm="ai-gateway", error="invalid_token"'}
        token = _bearer(headers)
        if token is None:
            return _denied(
                401,
                "missing_token",
                "a JWT is required: send 'Authorization: Bearer <token>'",
                request_id,
                {"WWW-Authenticate": 'Bearer realm="ai-gateway"'},
            )
        names = policy.jwt_providers or tuple(self.verifiers)
        verifiers = [self.verifiers[n] for n in names if n in self.verifiers]
        if not verifiers:
            return _denied(
                401,
                "invalid_token",
                "no JWT provider is configured for this endpoint",
                request_id,
                challenge,
            )
        reasons = []
        for verifier in verifiers:
            try:
                return await verifier.verify(token)
            except TokenRejected as exc:
                reasons.append(str(exc))
        return _denied(
            401, "invalid_token", f"the token was refused: {reasons[0]}", request_id, challenge
        )
