"""The AI APIs the gateway reads, recognised by the path the client asked for.

OpenAI's (and every OpenAI-compatible server's: vLLM, TGI, Ollama, LiteLLM)
``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and
``/v1/responses``, and Anthropic's ``/v1/messages``. The path's end decides,
so a route at ``/openai`` that forwards ``/openai/v1/chat/completions`` counts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, eq=False)
class ApiShape:
    """One AI API and what the gateway needs to know of it.

    Plain objects rather than an ``Enum``: an enum member's hash and its properties are
    Python calls, and the request path looks a shape's facts up several times an answer;
    these are attributes, compared by identity.
    """

    name: str
    operation: str  # OpenTelemetry's gen_ai.operation.name
    provider: str  # OpenTelemetry's gen_ai.provider.name: whose API the wire speaks
    streams_usage_on_request: bool  # a stream reports usage only when asked (include_usage)
    content_keys: tuple[bytes, ...]  # the string fields whose text is the answer

    CHAT: ClassVar[ApiShape]  # OpenAI chat completions
    COMPLETIONS: ClassVar[ApiShape]
    EMBEDDINGS: ClassVar[ApiShape]
    RESPONSES: ClassVar[ApiShape]  # OpenAI Responses API
    MESSAGES: ClassVar[ApiShape]  # Anthropic Messages API

    def __repr__(self) -> str:
        return f"ApiShape.{self.name}"


ApiShape.CHAT = ApiShape(
    "CHAT",
    "chat",
    "openai",
    True,
    (b'"content"', b'"reasoning_content"', b'"reasoning"', b'"arguments"', b'"refusal"'),
)
ApiShape.COMPLETIONS = ApiShape("COMPLETIONS", "text_completion", "openai", True, (b'"text"',))
ApiShape.EMBEDDINGS = ApiShape("EMBEDDINGS", "embeddings", "openai", False, ())
ApiShape.RESPONSES = ApiShape("RESPONSES", "chat", "openai", False, (b'"delta"',))
ApiShape.MESSAGES = ApiShape(
    "MESSAGES", "chat", "anthropic", False, (b'"text"', b'"thinking"', b'"partial_json"')
)

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
