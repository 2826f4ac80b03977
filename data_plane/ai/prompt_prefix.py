"""The start of a request's prompt, for prefix affinity: requests whose prompts begin alike
go to the server that likely holds that prefix in its cache.

The text is what the model reads first: OpenAI's ``messages`` (string contents and text
parts) or ``prompt`` or ``input``, Anthropic's ``system`` then ``messages``, each
message's role before it; read until ``chars`` characters are found, never further.
"""

from __future__ import annotations

from typing import Any


def prompt_prefix(document: dict[str, Any], chars: int) -> str | None:
    """The first ``chars`` characters of the prompt (None: no text found)."""
    pieces: list[str] = []
    size = 0

    def add(text: object) -> bool:
        nonlocal size
        if isinstance(text, str) and text:
            pieces.append(text[: chars - size])
            size += len(pieces[-1])
        return size >= chars

    for key in ("system", "prompt", "input"):
        value = document.get(key)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str)), None) or _text_of(value)
        if add(value):
            break
    messages = document.get("messages")
    if size < chars and isinstance(messages, list):
        for message in messages[:1000]:
            if not isinstance(message, dict):
                continue
            if add(f"{message.get('role')}:") or add(_text_of(message.get("content"))):
                break
    return "".join(pieces) if pieces else None


def _text_of(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # parts: the text ones
        texts = [p.get("text") for p in content[:100] if isinstance(p, dict)]
        return "".join(t for t in texts if isinstance(t, str)) or None
    return None
