"""The API server's answers as JSON, read within a size cap: the discovery asks for raw
answers (``_preload_content=False``), which the client does not check for errors."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a page of 500 pods is a few MB


async def json_of(response: aiohttp.ClientResponse, limit: int = MAX_ANSWER_BYTES) -> Any:
    """The answer's JSON; ApiException (with the status) for an error answer, ValueError for
    one too large or not JSON."""
    async with response:
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason)
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 16):  # the whole body, capped
            size += len(chunk)
            if size > limit:
                raise ValueError(f"the API server's answer is over {limit} bytes")
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def describe(exc: BaseException) -> str:
    """What went wrong with a call, for a log line."""
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason or ''}".strip()
    return repr(exc)
