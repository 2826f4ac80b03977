"""Tokens an answer used, as the backend reported them (or as estimated when it did not).

OpenAI's ``usage`` (``prompt_tokens``, ``completion_tokens``, and the details
``prompt_tokens_details.cached_tokens`` and
``completion_tokens_details.reasoning_tokens``; the Responses API says
``input_tokens`` / ``output_tokens`` with ``input_tokens_details`` /
``output_tokens_details``) and Anthropic's (``input_tokens``,
``output_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``)
become one shape. Anthropic counts cached tokens apart from ``input_tokens``;
here ``input`` is every prompt token, cached ones included, as OpenAI counts
them, so a price per input token means the same for both.

A number that is not a non-negative integer below 2**40 is ignored: a
backend's answer is input like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TOKENS = 1 << 40


@dataclass(slots=True)
class Usage:
    input: int = 0
    output: int = 0
    cached_input: int = 0  # prompt tokens read from the provider's cache (part of ``input``)
    cache_write: int = 0  # Anthropic's cache_creation_input_tokens (part of ``input``)
    reasoning: int = 0  # part of ``output``
    estimated: bool = False  # counted by the gateway, not reported by the backend

    @property
    def total(self) -> int:
        return self.input + self.output


def _count(value: Any) -> int | None:
    if type(value) is int and 0 <= value < MAX_TOKENS:
        return value
    return None


def _detail(usage: dict[str, Any], key: str, field: str) -> int:
    details = usage.get(key)
    if isinstance(details, dict):
        return _count(details.get(field)) or 0
    return 0


def openai_usage(usage: Any) -> Usage | None:
    """OpenAI's ``usage`` object (chat, completions, embeddings, or the Responses API's).

    Read once per answer on the request path, so the checks are written out rather than
    called (``_count``) for the two common fields.
    """
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    if type(prompt) is not int or not 0 <= prompt < MAX_TOKENS:
        prompt = _count(usage.get("input_tokens"))  # the Responses API
        if prompt is None:
            return None
        return Usage(
            input=prompt,
            output=_count(usage.get("output_tokens")) or 0,
            cached_input=_detail(usage, "input_tokens_details", "cached_tokens"),
            reasoning=_detail(usage, "output_tokens_details", "reasoning_tokens"),
        )
    completion = usage.get("completion_tokens")
    if type(completion) is not int or not 0 <= completion < MAX_TOKENS:
        completion = 0
    result = Usage(input=prompt, output=completion)
    if "prompt_tokens_details" in usage:
        result.cached_input = _detail(usage, "prompt_tokens_details", "cached_tokens")
    if "completion_tokens_details" in usage:
        result.reasoning = _detail(usage, "completion_tokens_details", "reasoning_tokens")
    return result


def anthropic_usage(usage: Any, into: Usage | None = None) -> Usage | None:
    """Anthropic's ``usage``; ``into`` carries what ``message_start`` said, which a stream's
    ``message_delta`` updates (its counts are cumulative)."""
    if not isinstance(usage, dict):
        return into
    result = into if into is not None else Usage()
    fresh = _count(usage.get("input_tokens"))
    read = _count(usage.get("cache_read_input_tokens"))
    written = _count(usage.get("cache_creation_input_tokens"))
    if read is not None:
        result.cached_input = read
    if written is not None:
        result.cache_write = written
    if fresh is not None:
        result.input = fresh + result.cached_input + result.cache_write
    elif read is not None or written is not None:
        result.input = max(result.input, result.cached_input + result.cache_write)
    output = _count(usage.get("output_tokens"))
    if output is not None:
        result.output = output
    return result


def estimate_tokens(text_bytes: int) -> int:
    """Tokens in ``text_bytes`` bytes of text: about four per token for English with the
    tokenizers of the common models (OpenAI's guidance); never zero for some text."""
    return (text_bytes + 3) // 4
