"""A security policy: who may call an endpoint and how often."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from control_plane.domain.base import SpecModel
from control_plane.domain.patterns import (
    AUTH_SPELLING,
    ENDPOINT_PARAM,
    ENDPOINT_PARAM_RE,
    RATE,
    RATE_RE,
    TAG,
    check_tags,
)
from control_plane.domain.route import check_route_path

AuthType = Literal["none", "jwt", "api-key"]
OnExceeded = Literal["reject", "cut"]

_AUTH_SPELLINGS: dict[str, AuthType] = {
    "none": "none",
    "jwt": "jwt",
    "api-key": "api-key",
    "api_key": "api-key",
    "apikey": "api-key",
    "key": "api-key",
}
_PERIODS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86_400.0,
    "day": 86_400.0,
}
_PERIOD_NAMES = {1.0: "s", 60.0: "min", 3600.0: "hour", 86_400.0: "day"}
MAX_REQUESTS = 10_000_000
RATE_FIX = "write it like 100/min (units: s, min, hour, day; a bare number means per minute)"


def normalise_endpoint(endpoint: str) -> str:
    """'predict', '/predict' and '/predict/' all name the endpoint '/predict'."""
    if not endpoint or len(endpoint) > 1023:
        raise ValueError("an endpoint is a path of 1 to 1023 characters, like /predict")
    if not endpoint.startswith("/"):
        endpoint = "/" + endpoint
    if len(endpoint) > 1:
        endpoint = endpoint.rstrip("/")
    path = check_route_path(endpoint)
    if not ENDPOINT_PARAM_RE.fullmatch(path):  # what the published pattern says, exactly
        raise ValueError(f"Invalid endpoint {path!r}: write it like /predict")
    return path


def _rate_schema(schema: dict[str, Any]) -> None:
    obj = dict(schema)
    schema.clear()
    schema["anyOf"] = [
        {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTS, "description": "per minute"},
        {"type": "string", "pattern": RATE, "maxLength": 64, "examples": ["100/min"]},
        obj,
    ]


def _security_schema(schema: dict[str, Any]) -> None:
    spelling = {"type": "string", "pattern": AUTH_SPELLING, "default": "none"}
    schema["properties"]["auth"] = {
        **spelling,
        "description": "jwt, api-key or none (also api_key, apikey, key; any case)",
    }
    schema["properties"]["authType"] = {**spelling, "description": "same as auth"}
    schema["properties"]["endpoint"] = {
        "type": "string",
        "pattern": ENDPOINT_PARAM,
        "maxLength": 1023,
        "description": "a path; the policy covers it and everything below it by segment",
    }
    schema["not"] = {"required": ["auth", "authType"]}


def _rate_shorthand(data: Any, count: str) -> Any:
    """``100/min``, ``100`` (per minute) or the object form, for a rate counted in ``count``."""
    if isinstance(data, bool):
        raise ValueError(f"{data!r} is not a rate; {RATE_FIX}")
    if isinstance(data, int):
        return {count: data}
    if isinstance(data, str):
        match = RATE_RE.fullmatch(data) if len(data) <= 64 else None
        unit = match.group(2).lower() if match and match.group(2) else None
        if unit is not None and unit not in _PERIODS and unit.endswith("s"):
            unit = unit[:-1]  # plurals: 100/mins, 5/hours
        if not match or (unit is not None and unit not in _PERIODS):
            raise ValueError(f"'{data}' is not a rate; {RATE_FIX}")
        return {count: int(match.group(1)), "period_seconds": _PERIODS[unit or "min"]}
    return data


class RateLimitSpec(SpecModel):
    """``requests`` per ``period_seconds``, counted per consumer (client IP when anonymous)."""

    model_config = ConfigDict(json_schema_extra=_rate_schema)

    requests: int = Field(ge=1, le=MAX_REQUESTS)
    period_seconds: float = Field(60.0, gt=0, le=86_400)

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, data: Any) -> Any:
        return _rate_shorthand(data, "requests")

    @model_serializer
    def _as_text(self) -> str | dict[str, Any]:
        unit = _PERIOD_NAMES.get(self.period_seconds)
        if unit is not None:
            return f"{self.requests}/{unit}"
        return {"requests": self.requests, "periodSeconds": self.period_seconds}


MAX_TOKENS_PER_PERIOD = 999_999_999  # what the rate's nine digits can say


def _token_rate_schema(schema: dict[str, Any]) -> None:
    obj = dict(schema)
    schema.clear()
    schema["anyOf"] = [
        {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_PER_PERIOD,
         "description": "tokens per minute"},
        {"type": "string", "pattern": RATE, "maxLength": 64, "examples": ["100000/min"]},
        obj,
    ]  # fmt: skip


class TokenLimitSpec(SpecModel):
    """Input plus output ``tokens`` per ``period_seconds``, per consumer: ``100000/min``."""

    model_config = ConfigDict(json_schema_extra=_token_rate_schema)

    tokens: int = Field(ge=1, le=MAX_TOKENS_PER_PERIOD)
    period_seconds: float = Field(60.0, gt=0, le=86_400)

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, data: Any) -> Any:
        return _rate_shorthand(data, "tokens")

    @model_serializer
    def _as_text(self) -> str | dict[str, Any]:
        unit = _PERIOD_NAMES.get(self.period_seconds)
        if unit is not None:
            return f"{self.tokens}/{unit}"
        return {"tokens": self.tokens, "periodSeconds": self.period_seconds}


BudgetPeriod = Literal["day", "week", "month"]
MAX_BUDGET_USD = 1_000_000_000.0
MAX_BUDGET_TOKENS = 10**15


class BudgetSpec(SpecModel):
    """What a consumer may spend per calendar ``per`` (UTC; weeks start on Monday): ``usd``
    (priced with the cluster's ``prices``) or ``tokens`` (input plus output)."""

    usd: float | None = Field(None, gt=0, le=MAX_BUDGET_USD)
    tokens: int | None = Field(None, ge=1, le=MAX_BUDGET_TOKENS)
    per: BudgetPeriod = "month"
    # The share spent that sends the budget.warning webhook (once a period); 1: only exceeded.
    warn_at: float = Field(0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _one_amount(self) -> BudgetSpec:
        if (self.usd is None) == (self.tokens is None):
            raise ValueError(
                "a budget is in usd or in tokens: write {usd: 50, per: month} or "
                "{tokens: 1000000, per: day}"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("usd", "warnAt", "warn_at"):
                if type(data.get(key)) is int:
                    data = {**data, key: float(data[key])}
        return data


class SecuritySpec(SpecModel):
    """The REST form ``{"authType": "jwt", "rateLimit": 100}`` and YAML ``auth:`` both parse."""

    model_config = ConfigDict(json_schema_extra=_security_schema)

    endpoint: str
    auth: AuthType = Field(
        "none",
        validation_alias=AliasChoices("auth", "authType", "auth_type"),
        serialization_alias="auth",
    )
    rate_limit: RateLimitSpec | None = None
    token_limit: TokenLimitSpec | None = None
    budget: BudgetSpec | None = None
    default_max_tokens: int | None = Field(None, ge=1, le=10_000_000)
    # What a stream that goes past its token limit or budget gets: it finishes and is
    # charged (reject: only later requests are refused), or it ends with an error event.
    on_exceeded: OnExceeded = "reject"
    jwt_providers: tuple[str, ...] = ()
    tags: tuple[str, ...] = Field((), json_schema_extra={"items": {"pattern": TAG}})

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        return check_tags(tags)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        return normalise_endpoint(endpoint)

    @field_validator("auth", mode="before")
    @classmethod
    def _auth(cls, auth: Any) -> Any:
        if isinstance(auth, str) and auth.lower() in _AUTH_SPELLINGS:
            return _AUTH_SPELLINGS[auth.lower()]
        raise ValueError(f"{auth!r} is not an auth type; use jwt, api-key or none")


def _spellings() -> dict[str, str]:
    """Every accepted spelling of a SecuritySpec key -> the one it is stored under."""
    found: dict[str, str] = {}
    for name, field in SecuritySpec.model_fields.items():
        stored = field.serialization_alias or to_camel(name)
        found[name] = found[to_camel(name)] = found[stored] = stored
        choices = field.validation_alias
        if isinstance(choices, AliasChoices):
            for choice in choices.choices:
                if isinstance(choice, str):
                    found[choice] = stored
    return found


def merged_policy(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``current`` (a stored policy document) with ``changes`` merged in as a JSON merge
    patch (RFC 7396): a key set to null is removed, an object is merged key by key, any
    other value replaces. Keys may be spelled as the API accepts them (``authType``,
    ``auth``, ``rate_limit``...)."""
    spellings = _spellings()
    merged = dict(current)
    for key, value in changes.items():
        key = spellings.get(key, key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {k: v for k, v in {**merged[key], **value}.items() if v is not None}
        else:
            merged[key] = value
    return merged
