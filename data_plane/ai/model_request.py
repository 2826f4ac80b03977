"""The AI request as the gateway reads it: which model, streamed or not, and the body each
target gets.

The body is read only when it was read anyway (small, with a length: it can be
replayed) and parsed once with orjson. What the gateway changes in it, it
changes on the parsed document and serialises once per distinct body: the
``model`` a target names (virtual model names) and, for an OpenAI-shaped
stream that did not ask for usage, ``stream_options.include_usage`` (the
extra usage chunk is then kept from the client, see ``usage_meter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from data_plane.ai.shapes import ApiShape

MAX_MODEL_NAME = 256
MODEL_HEADER = "x-aigw-model"


def valid_model_name(value: object) -> str | None:
    """A model name the gateway may route on, log and put in a label: a string of 1-256
    characters without control characters or surrounding spaces."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_MODEL_NAME:
        return None
    if value != value.strip() or not value.isprintable():
        return None
    return value


@dataclass(slots=True)
class ParsedBody:
    """A JSON request body, or why it could not be read (for the 400 a model route answers)."""

    document: dict[str, Any] | None
    model: str | None
    problem: str = ""  # set when ``model`` is None


def parse_body(data: bytes | None, too_large: bool = False) -> ParsedBody:
    if data is None:
        problem = (
            "the request body is too large to read the model from; name it in the "
            f"{MODEL_HEADER} header"
            if too_large
            else "the request has no body; send a JSON body with a 'model' field"
        )
        return ParsedBody(None, None, problem)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return ParsedBody(None, None, "the request body is not JSON; send a JSON object")
    if not isinstance(document, dict):
        return ParsedBody(None, None, "the request body is not a JSON object")
    raw = document.get("model")
    model = valid_model_name(raw)
    if model is None:
        what = "has no 'model' field" if raw is None else "has a 'model' that is not a model name"
        return ParsedBody(document, None, f'the request body {what}; add one, like "gpt-4o"')
    return ParsedBody(document, model)


@dataclass(slots=True, eq=False)
class AiRequest:
    shape: ApiShape
    model: str | None  # what the client asked for (the x-aigw-model header wins)
    document: dict[str, Any] | None  # the parsed body; None: not read (streamed, not JSON)
    body: bytes | None  # the body as received
    stream: bool = False
    hide_usage: bool = False  # include_usage was added by the gateway: the client did not ask
    max_output: int | None = None  # max_tokens / max_completion_tokens / max_output_tokens
    size: int = 0  # the body's bytes, read or (streamed) as its Content-Length said
    _bodies: dict[str | None, bytes] | None = None  # what was serialised, by target model

    @classmethod
    def of(cls, shape: ApiShape, body: bytes | None, parsed: ParsedBody | None,
           header_model: str | None) -> AiRequest:  # fmt: skip
        """``parsed``: the body as routing already read it.

        The body is parsed whole rather than searched for its model: orjson parses a body
        about as fast as ``bytes.find`` scans it once (measured from 60 bytes to 50 KB),
        and a search needs several scans to be sure of what it found."""
        parsed = parsed or (parse_body(body) if body is not None else None)
        document = parsed.document if parsed is not None else None
        model = header_model or (parsed.model if parsed is not None else None)
        request = cls(shape, model, document, body, size=len(body) if body is not None else 0)
        if document is not None:
            request.stream = document.get("stream") is True
            request.max_output = _max_output(document)
            if request.stream and shape.streams_usage_on_request:
                request._ask_for_usage(document)
        return request

    def _ask_for_usage(self, document: dict[str, Any]) -> None:
        options = document.get("stream_options")
        if options is None:
            document["stream_options"] = {"include_usage": True}
        elif isinstance(options, dict) and options.get("include_usage") is not True:
            document["stream_options"] = {**options, "include_usage": True}
        else:
            return  # asked already, or malformed: the backend answers as it sees fit
        self.hide_usage = True
        self._bodies = {None: orjson.dumps(document)}

    def body_for(self, target_model: str | None) -> bytes | None:
        """The body a target gets: with its own model name when it names one."""
        if target_model is not None and self.document is None and self.body is not None:
            self.document = parse_body(self.body).document
        bodies = self._bodies
        if target_model is None or self.document is None:
            return self.body if bodies is None else bodies.get(None, self.body)
        if bodies is None:
            bodies = self._bodies = {}
        body = bodies.get(target_model)
        if body is None:
            body = bodies[target_model] = orjson.dumps({**self.document, "model": target_model})
        return body


def _max_output(document: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = document.get(key)
        if type(value) is int and value > 0:
            return value
    return None
