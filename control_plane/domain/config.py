"""The whole declarative document: the product's ``routes:`` / ``security:`` / ``callback:`` file."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from control_plane.domain.base import SpecModel
from control_plane.domain.identity import JwtProviderSpec
from control_plane.domain.identity_documents import ConsumerDocument
from control_plane.domain.patterns import NAME, NAME_RE, URL_PREFIX, any_case
from control_plane.domain.route import REDACTED, RouteSpec, check_target_url, redact_route
from control_plane.domain.security import (
    BudgetSpec,
    SecuritySpec,
    TokenLimitSpec,
    normalise_endpoint,
)
from data_plane.ai.model_match import check_model_pattern

LogLevel = Literal["debug", "info", "warning", "error"]


def _level_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: a level's name in any case (it is stored lower-case)."""
    schema.pop("enum", None)
    schema["pattern"] = f"^(?:{any_case(*get_args(LogLevel))})$"


class PriceSpec(SpecModel):
    """USD per million tokens; ``cachedInput`` (cache reads) defaults to ``input``."""

    input: float = Field(ge=0, le=1_000_000)
    output: float = Field(ge=0, le=1_000_000)
    cached_input: float | None = Field(None, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        """``input: 3`` is a price as much as ``input: 3.0`` (YAML and JSON write both)."""
        if isinstance(data, dict):
            return {
                k: float(v) if type(v) is int and k in ("input", "output", "cachedInput",
                                                         "cached_input") else v
                for k, v in data.items()
            }  # fmt: skip
        return data


MAX_PRICES = 1000
MAX_TEAMS = 1000
MAX_TEAM_MEMBERS = 10_000
MAX_LIMITS = 100


class LimitSpec(SpecModel):
    """A token limit or budget beyond an endpoint's own: for a ``team`` (its members share
    it), a ``consumer`` or an API ``key`` (its id; ``"*"``: each consumer or key its own),
    or everyone together (none of them); on the requests for ``model`` (a name or a ``*``
    glob) under ``endpoint``."""

    name: str | None = Field(None, json_schema_extra={"pattern": NAME})
    team: str | None = Field(None, json_schema_extra={"pattern": NAME})
    consumer: str | None = Field(None, min_length=1, max_length=63)
    key: str | None = Field(None, min_length=1, max_length=32)  # an API key's id, or "*"
    model: str | None = Field(None, min_length=1, max_length=256)
    endpoint: str = "/"
    token_limit: TokenLimitSpec | None = None
    budget: BudgetSpec | None = None

    @field_validator("name", "team")
    @classmethod
    def _names(cls, name: str | None) -> str | None:
        if name is not None and not NAME_RE.fullmatch(name):
            raise ValueError(
                f"'{name}' is not a valid name: use 1-63 lower-case letters, digits, '.', '_' or '-'"
            )
        return name

    @field_validator("consumer")
    @classmethod
    def _consumer(cls, consumer: str | None) -> str | None:
        if consumer is not None and consumer != "*" and not NAME_RE.fullmatch(consumer):
            raise ValueError(f"'{consumer}' is not a consumer name; or write \"*\" for each one")
        return consumer

    @field_validator("key")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        if key is not None and key != "*" and not key.isalnum():
            raise ValueError(f"'{key[:32]}' is not an API key id (see keys list); or write \"*\"")
        return key

    @field_validator("model")
    @classmethod
    def _model(cls, model: str | None) -> str | None:
        return None if model is None else check_model_pattern(model)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        return normalise_endpoint(endpoint)

    @model_validator(mode="after")
    def _what(self) -> LimitSpec:
        if sum(x is not None for x in (self.team, self.consumer, self.key)) > 1:
            raise ValueError("a limit is for a team, a consumer or an API key: give one")
        if self.token_limit is None and self.budget is None:
            raise ValueError("a limit sets a tokenLimit, a budget or both")
        return self


class SettingsSpec(SpecModel):
    """Data-plane settings carried in every snapshot (changed without a restart)."""

    log_level: LogLevel = Field("info", json_schema_extra=_level_schema)
    prices: dict[str, PriceSpec] = Field(default_factory=dict, max_length=MAX_PRICES)
    # Consumers by team: a team's limits are shared by its members.
    teams: dict[str, tuple[str, ...]] = Field(default_factory=dict, max_length=MAX_TEAMS)
    limits: tuple[LimitSpec, ...] = Field((), max_length=MAX_LIMITS)

    @field_validator("teams", mode="before")
    @classmethod
    def _member_lists(cls, teams: Any) -> Any:
        if isinstance(teams, dict):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in teams.items()}
        return teams

    @field_validator("teams")
    @classmethod
    def _teams(cls, teams: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for team, members in teams.items():
            if not NAME_RE.fullmatch(team):
                raise ValueError(f"teams: '{team[:64]}' is not a valid team name")
            if len(members) > MAX_TEAM_MEMBERS:
                raise ValueError(f"teams.{team}: at most {MAX_TEAM_MEMBERS} members")
            for member in members:
                if not NAME_RE.fullmatch(member):
                    raise ValueError(f"teams.{team}: '{member[:64]}' is not a consumer name")
        return teams

    @model_validator(mode="after")
    def _known_teams(self) -> SettingsSpec:
        named: dict[str, int] = {}
        for index, limit in enumerate(self.limits):
            if limit.name is not None:
                if limit.name in named:
                    raise ValueError(
                        f"limits[{index}] and limits[{named[limit.name]}] are both named "
                        f"'{limit.name}' (the name keys its counts); give each its own"
                    )
                named[limit.name] = index
        for index, limit in enumerate(self.limits):
            if limit.team is not None and limit.team not in self.teams:
                raise ValueError(
                    f"limits[{index}].team: no team '{limit.team}'; define it under teams"
                )
        return self

    @field_validator("prices")
    @classmethod
    def _model_names(cls, prices: dict[str, PriceSpec]) -> dict[str, PriceSpec]:
        for model in prices:
            if not 0 < len(model) <= 256 or model != model.strip() or not model.isprintable():
                raise ValueError(f"{model[:64]!r} is not a model name (1-256 printable characters)")
        return prices

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, level: Any) -> Any:
        return level.lower() if isinstance(level, str) else level


def _document_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: ``routes:`` or ``security:`` with nothing under it (null) means none;
    ``prices:`` may sit at the top (added in ``schema.config_schema``: it is the settings')."""
    for key in ("routes", "security"):
        listed = schema["properties"][key]
        schema["properties"][key] = {"anyOf": [listed, {"type": "null"}], "default": []}


class GatewayConfig(SpecModel):
    """One cluster's configuration, as applied by ``ai-gateway-cli apply``.

    Applying it makes the cluster hold exactly these routes and policies:
    what is stored but missing here is deleted (like ``decK sync``).
    """

    model_config = ConfigDict(json_schema_extra=_document_schema)

    cluster: str | None = Field(None, json_schema_extra={"pattern": NAME})
    routes: tuple[RouteSpec, ...] = ()
    security: tuple[SecuritySpec, ...] = ()
    callback: str | None = Field(None, json_schema_extra={"pattern": URL_PREFIX, "maxLength": 2048})
    settings: SettingsSpec = SettingsSpec()
    # None (left out): the document does not manage them, and apply leaves them as they are.
    consumers: tuple[ConsumerDocument, ...] | None = Field(None, max_length=100_000)
    jwt_providers: tuple[JwtProviderSpec, ...] | None = Field(None, max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_empty(cls, data: Any) -> Any:
        # `routes:` with nothing under it is YAML's null; a user means "none".
        if isinstance(data, dict):
            data = {
                k: v for k, v in data.items() if not (v is None and k in ("routes", "security"))
            }
            if "prices" in data:  # written at the top, as a price table usually is
                settings = data.get("settings") or {}
                if not isinstance(settings, dict) or "prices" in settings:
                    raise ValueError("give prices either at the top or under settings, not both")
                data["settings"] = {**settings, "prices": data.pop("prices")}
        return data

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, cluster: str | None) -> str | None:
        if cluster is not None:
            check_cluster_name(cluster)
        return cluster

    @field_validator("callback")
    @classmethod
    def _callback(cls, url: str | None) -> str | None:
        return None if url is None else check_target_url(url)

    @field_validator("routes")
    @classmethod
    def _unique_names(cls, routes: tuple[RouteSpec, ...]) -> tuple[RouteSpec, ...]:
        seen: dict[str, int] = {}
        for index, route in enumerate(routes):
            name = route.effective_name
            if name in seen:
                raise ValueError(
                    f"routes[{index}] and routes[{seen[name]}] are both named '{name}'; "
                    "give each route a unique name"
                )
            seen[name] = index
        return routes

    @field_validator("consumers")
    @classmethod
    def _unique_consumers(
        cls, consumers: tuple[ConsumerDocument, ...] | None
    ) -> tuple[ConsumerDocument, ...] | None:
        refuse_repeats("consumers", [c.name for c in consumers or ()], "are both named")
        imported: dict[str, str] = {}
        for i, consumer in enumerate(consumers or ()):
            for j, key in enumerate(consumer.keys or ()):
                if key.key is not None and key.key in imported:
                    raise ValueError(
                        f"consumers[{i}].keys[{j}] is the key of {imported[key.key]} too; a key "
                        "belongs to one consumer"
                    )
                if key.key is not None:
                    imported[key.key] = f"consumers[{i}].keys[{j}]"
        return consumers

    @field_validator("jwt_providers")
    @classmethod
    def _unique_providers(
        cls, providers: tuple[JwtProviderSpec, ...] | None
    ) -> tuple[JwtProviderSpec, ...] | None:
        refuse_repeats("jwtProviders", [p.name for p in providers or ()], "are both named")
        return providers

    @field_validator("security")
    @classmethod
    def _unique_endpoints(cls, policies: tuple[SecuritySpec, ...]) -> tuple[SecuritySpec, ...]:
        refuse_repeats("security", [p.endpoint for p in policies], "both secure")
        return policies


def refuse_repeats(field: str, keys: list[str], verb: str) -> None:
    """ValueError for the first key that is there twice: '<field>[3] and <field>[1] <verb> 'x'."""
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in seen:
            raise ValueError(
                f"{field}[{index}] and {field}[{seen[key]}] {verb} '{key}'; merge them into one "
                "entry"
            )
        seen[key] = index


def exported_document(config: GatewayConfig) -> dict[str, Any]:
    """The document as ``export`` shows it: defaults left out, stored credentials redacted."""
    document = config.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    document["cluster"] = config.cluster
    if document.get("routes"):
        document["routes"] = [redact_route(route) for route in document["routes"]]
    for provider in document.get("jwtProviders") or ():
        if provider.get("secret"):
            provider["secret"] = REDACTED
    return document


def check_cluster_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ValueError(
            f"'{name}' is not a valid cluster name: use 1-63 lower-case letters, digits, '.', '_' or '-'"
        )
    return name
