"""The ai-gateway Python SDK.

from ai_gateway import AI_Gateway
gw = AI_Gateway(api_key=os.environ["AI_GATEWAY_API_KEY"]).connect(cluster="aimlops")
gw.createRoute(path="/predict", target="http://ai-service:8080", method="POST")
"""

from ai_gateway.async_client import AsyncAIGateway, AsyncClusterClient
from ai_gateway.client import AI_Gateway, ClusterClient
from ai_gateway.errors import (
    AuthenticationError,
    ConflictError,
    GatewayConnectionError,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "AI_Gateway",
    "AsyncAIGateway",
    "AsyncClusterClient",
    "AuthenticationError",
    "ClusterClient",
    "ConflictError",
    "GatewayConnectionError",
    "GatewayError",
    "InvalidInputError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
]
