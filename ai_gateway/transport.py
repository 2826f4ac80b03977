"""Send a Call over httpx, with typed errors and retries (sync and async)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from ai_gateway.calls import Call
from ai_gateway.errors import AUTH_THROTTLED, GatewayConnectionError, GatewayError, error_for
from ai_gateway.retry import RetryPolicy, parse_retry_after


def _decode(call: Call, response: httpx.Response) -> Any:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = {"error": {"code": "bad_response", "message": response.text[:200]}}
    if response.status_code >= 400:
        raise error_for(
            response.status_code, body, parse_retry_after(response.headers.get("Retry-After"))
        )
    if call.unwrap is not None and isinstance(body, dict):
        return body.get(call.unwrap)
    return body


def _transient(error: GatewayError) -> bool:
    """A 429 for wrong keys is no overload: waiting and sending the same key again won't help."""
    return error.code != AUTH_THROTTLED


def _connection_error(url: str, exc: Exception) -> GatewayConnectionError:
    return GatewayConnectionError(
        f"cannot reach the gateway at {url}: {exc or type(exc).__name__}; "
        "is the control plane running? (set AI_GATEWAY_URL or run ai-gateway-cli init --url)"
    )


def send_sync(client: httpx.Client, call: Call, policy: RetryPolicy) -> Any:
    attempt = 0
    while True:
        try:
            response = client.request(call.method, call.path, params=call.params, json=call.json)
        except httpx.TransportError as exc:
            if not policy.should_retry(attempt, None, call.idempotent):
                raise _connection_error(str(client.base_url), exc) from None
            time.sleep(policy.delay(attempt, None))
            attempt += 1
            continue
        try:
            return _decode(call, response)
        except GatewayError as error:
            if not _transient(error) or not policy.should_retry(
                attempt, error.status, call.idempotent
            ):
                raise
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            time.sleep(policy.delay(attempt, retry_after))
            attempt += 1


async def send_async(client: httpx.AsyncClient, call: Call, policy: RetryPolicy) -> Any:
    attempt = 0
    while True:
        try:
            response = await client.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.TransportError as exc:
            if not policy.should_retry(attempt, None, call.idempotent):
                raise _connection_error(str(client.base_url), exc) from None
            await asyncio.sleep(policy.delay(attempt, None))
            attempt += 1
            continue
        try:
            return _decode(call, response)
        except GatewayError as error:
            if not _transient(error) or not policy.should_retry(
                attempt, error.status, call.idempotent
            ):
                raise
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            await asyncio.sleep(policy.delay(attempt, retry_after))
            attempt += 1
