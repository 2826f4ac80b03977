"""Read a data plane's own status from its ops port (``/readyz``): what it serves and how its
backends are doing. Health is per data plane, so it is asked of each one."""

from __future__ import annotations

from typing import Any

import httpx

from ai_gateway.errors import GatewayConnectionError
from ai_gateway.shapes import as_object


def data_plane_status(ops_url: str, timeout: float = 5.0) -> dict[str, Any]:
    """``{"ready", "version", "routes", "controlPlaneConnected", "targets": [...]}``."""
    try:
        answer = httpx.get(ops_url.rstrip("/") + "/readyz", timeout=timeout)
    except httpx.TransportError as exc:
        raise GatewayConnectionError(
            f"cannot reach the data plane's ops port at {ops_url}: {exc}"
        ) from None
    return as_object(answer.json())
