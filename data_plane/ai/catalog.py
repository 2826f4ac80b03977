"""What one snapshot knows about models: the names its routes serve, their label values and
their prices. Made once per snapshot; the AI filter and ``GET /v1/models`` read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_plane.ai.metrics import ModelLabels
from data_plane.ai.prices import PriceTable


@dataclass(frozen=True, slots=True)
class ServedModel:
    name: str
    route: str  # the route that serves it (the first, in match order)
    path: str  # that route's path, whose security policy says who may list it


@dataclass(frozen=True, slots=True)
class ModelCatalog:
    models: tuple[ServedModel, ...] = ()
    prices: PriceTable = field(default_factory=lambda: PriceTable({}))
    labels: ModelLabels = field(default_factory=lambda: ModelLabels(frozenset()))
    created: int = 0  # the snapshot's time (Unix): the list's ``created``

    @classmethod
    def of(
        cls, served: list[ServedModel], target_models: set[str], prices: PriceTable, created: int
    ) -> ModelCatalog:
        seen: dict[str, ServedModel] = {}
        for model in served:
            seen.setdefault(model.name, model)
        names = frozenset(seen) | frozenset(target_models) | prices.names()
        return cls(tuple(seen.values()), prices, ModelLabels(names), created)
