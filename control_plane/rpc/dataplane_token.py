"""The bootstrap token data planes present on every call (``--dataplane-token``)."""

from __future__ import annotations

import hmac

import grpc


async def require_dataplane_token(context: grpc.aio.ServicerContext, token: str | None) -> None:
    """Abort the call unless it carries ``Bearer <token>`` (nothing to check without a token)."""
    if token is None:
        return
    metadata = dict(context.invocation_metadata() or ())
    scheme, _, given = str(metadata.get("authorization", "")).partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing or wrong data-plane token (--token / AI_GATEWAY_DATAPLANE_TOKEN)",
        )
