"""What tokens cost: the cluster's price table (USD per million tokens, per model).

A model is priced by the name the backend answered with, else by the name the
gateway sent it, else by the name the client asked for; a model with no price
costs nothing (and shows no cost). Cached input tokens cost ``cachedInput``
when given, else the input price; reasoning tokens are output tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from data_plane.ai.usage import Usage


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cached_input, usage.input)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (
            (usage.input - cached) * self.input + cached * cached_price + usage.output * self.output
        ) / 1_000_000


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)
        self.priced = bool(self._prices)  # read per request: an attribute, not a call

    def __bool__(self) -> bool:
        return bool(self._prices)

    def names(self) -> frozenset[str]:
        return frozenset(self._prices)

    def cost(self, usage: Usage, *models: str | None) -> float | None:
        if not self._prices:
            return None
        for model in models:
            if model is not None:
                price = self._prices.get(model)
                if price is not None:
                    return price.cost(usage)
        return None
