"""The AI APIs the gateway reads, recognised by the path the client asked for.

OpenAI's (and every OpenAI-compatible server's: vLLM, TGI, Ollama, LiteLLM)
``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and
``/v1/responses``, and Anthropic's ``/v1/messages``. The path's end decides,
so a route at ``/openai`` that forwards ``/openai/v1/chat/completions`` counts too.
"""

from __future__ import annotations

from enum import Enum


class ApiShape(Enum):
    CHAT = "chat"  # OpenAI chat completions
    COMPLETIONS = "text_completion"
    EMBEDDINGS = "embeddings"
    RESPONSES = "responses"  # OpenAI Responses API
    MESSAGES = "messages"  # Anthropic Messages API

    @property
    def operation(self) -> str:
        """OpenTelemetry's ``gen_ai.operation.name`` for it."""
        return _OPERATIONS[self]

    @property
    def provider(self) -> str:
        """OpenTelemetry's ``gen_ai.provider.name``: whose API the wire speaks."""
        return "anthropic" if self is ApiShape.MESSAGES else "openai"

    @property
    def streams_usage_on_request(self) -> bool:
        """Whether a stream reports usage only when asked (``stream_options.include_usage``)."""
        return self in (ApiShape.CHAT, ApiShape.COMPLETIONS)


_OPERATIONS = {
    ApiShape.CHAT: "chat",
    ApiShape.COMPLETIONS: "text_completion",
    ApiShape.EMBEDDINGS: "embeddings",
    ApiShape.RESPONSES: "chat",
    ApiShape.MESSAGES: "chat",
}
_SUFFIXES = (
    ("/chat/completions", ApiShape.CHAT),
    ("/completions", ApiShape.COMPLETIONS),
    ("/embeddings", ApiShape.EMBEDDINGS),
    ("/responses", ApiShape.RESPONSES),
    ("/messages", ApiShape.MESSAGES),
)
AI_SUFFIXES = tuple(suffix for suffix, _ in _SUFFIXES)


def shape_of(path: str) -> ApiShape | None:
    """The API a request path speaks, or None (not AI traffic the gateway reads)."""
    if not path.endswith(AI_SUFFIXES):
        return None
    for suffix, shape in _SUFFIXES:
        if path.endswith(suffix):
            return shape
    return None


def may_carry_ai(kind: str, path: str) -> bool:
    """Whether a route (its match kind and path) can see AI-shaped requests: decided once per
    snapshot, so an exact route like ``/predict`` composes no AI filter at all (a prefix or a
    regex route may forward a path below it that ends like an AI API)."""
    return kind != "exact" or shape_of(path) is not None
