"""Requests that reserve a known number of tokens, and the control plane's budget ledger
as the token-limit tests read them."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.support.gateway import Gateway


def body_reserving(tokens: int, **fields: object) -> bytes:
    """A chat request whose reservation (its bytes / 4, rounded up, plus max_tokens) is
    exactly ``tokens``."""
    max_tokens = tokens
    for _ in range(10):
        body = json.dumps(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": max_tokens,
                **fields,
            }
        ).encode()
        prompt = (len(body) + 3) // 4
        if prompt + max_tokens == tokens and max_tokens > 0:
            return body
        max_tokens = tokens - prompt
    raise AssertionError("no body reserves exactly that")  # too few for the body itself


def ledger_spent(gw: Gateway, tokens: float, consumer: str | None = None) -> dict[str, Any]:
    """The first budget of the control plane's usage answer, once it has ``tokens`` spent."""
    params = {"cluster": gw.cluster} | ({"consumer": consumer} if consumer else {})
    deadline = time.monotonic() + 15
    while True:
        with gw.admin() as http:
            usage: dict[str, Any] = http.get("/api/v1/usage", params=params).json()
        if usage["budgets"] and usage["budgets"][0]["spent"] >= tokens:
            return dict(usage["budgets"][0])
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)


def post(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(url, content=body, headers={"Content-Type": "application/json", **headers})


def limit_window(gw: Gateway, scope: str, caller: str, tokens: int) -> dict[str, Any]:
    """The control plane's usage of the token limit ``scope`` for ``caller``, once its window
    holds ``tokens``."""
    params = {"cluster": gw.cluster}
    deadline = time.monotonic() + 15
    while True:
        with gw.admin() as http:
            usage: dict[str, Any] = http.get("/api/v1/usage", params=params).json()
        for window in usage["limits"]:
            if (window["scope"], window["caller"]) == (scope, caller) and window[
                "tokens"
            ] >= tokens:
                return dict(window)
        assert time.monotonic() < deadline, usage["limits"]
        time.sleep(0.1)
