"""A route: which requests it matches and which AI backends serve them."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from control_plane.domain.base import SpecModel
from control_plane.domain.patterns import (
    CANONICAL_PATH,
    HEADER_NAME,
    HEADER_NAME_RE,
    HOST,
    HOST_RE,
    HTTP_METHOD,
    NAME,
    NAME_RE,
    TAG,
    URL_PREFIX,
    check_tags,
)
from data_plane.ai.model_match import MAX_MODELS, ModelMatcher, check_model_pattern
from data_plane.runtime.regex import compile_regex

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# The characters RFC 3986 allows in a URI: nothing else (space, control, non-ASCII) may
# reach a request line or a Host header the gateway writes.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*\Z")
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*\Z")  # pchar and '/'

MatchKind = Literal["prefix", "exact", "regex"]
MAX_PATH = 1024
_URL_STRING: dict[str, Any] = {"type": "string", "pattern": URL_PREFIX, "maxLength": 2048}
LoadBalancer = Literal["round-robin", "least-request", "least-loaded", "consistent-hash", "random"]


def check_target_url(url: str) -> str:
    """Accept only absolute http(s) URLs with a host: targets come from config alone."""
    fix = "write it like http://ai-service:8080"
    if not _URI_CHARS.match(url):
        bad = next(c for c in url if not _URI_CHARS.match(c))
        raise ValueError(
            f"{url!r} holds {_describe(bad)}, which a URL may not; percent-encode it or "
            f"remove it ({fix})"
        )
    if len(url) > 2048:
        raise ValueError(f"the URL is {len(url)} characters long; keep it under 2048")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"'{url}' is not a valid URL; {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{url}' is not an http(s) URL; {fix}")
    if parts.username or parts.password:
        raise ValueError(f"'{url}' must not carry credentials; {fix}")
    if parts.query or parts.fragment:
        raise ValueError(f"'{url}' must not have a query or fragment; {fix}")
    if port == 0:
        raise ValueError(f"'{url}' has port 0; {fix}")
    return url.rstrip("/") if parts.path not in ("", "/") else f"{parts.scheme}://{parts.netloc}"


def _describe(char: str) -> str:
    if char == " ":
        return "a space"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"a control character (U+{ord(char):04X})"
    if ord(char) > 0x7F:
        return f"a non-ASCII character ({char!r})"
    return repr(char)


def check_route_path(path: str) -> str:
    fix = "it must start with '/', like /predict"
    if not path.startswith("/"):
        raise ValueError(f"Invalid route path {path!r}: {fix}")
    if len(path) > 1024:
        raise ValueError(f"Invalid route path: it is {len(path)} characters; keep it under 1024")
    bad = next((c for c in path if not _PATH_CHARS.match(c)), None)
    if bad is not None:
        raise ValueError(
            f"Invalid route path {path!r}: it holds {_describe(bad)}; use ASCII "
            "letters, digits and -._~!$&'()*+,;=:@/ only (no spaces, control characters, "
            "'?', '#' or '\\')"
        )
    segments = path.split("/")
    if any(s in (".", "..") for s in segments) or "//" in path or "%" in path:
        raise ValueError(
            f"Invalid route path '{path}': write it in canonical form "
            "(no '.', '..', '//' or percent-encoding)"
        )
    return path


def _string_or_object(schema: dict[str, Any]) -> None:
    """JSON Schema: a bare URL string is accepted wherever a target object is."""
    obj = dict(schema)
    schema.clear()
    schema["anyOf"] = [_URL_STRING, obj]


def _one_or_many(item: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [item, {"type": "array", "items": item}]}


def _route_shorthands(schema: dict[str, Any]) -> None:
    """JSON Schema: the short forms the parser accepts (``target:``, ``method:``, one item for a
    list, a header map), and the path's rule by match kind."""
    props = schema["properties"]
    target = {"$ref": props["targets"]["items"]["$ref"]}
    props["target"] = {**target, "description": "one target (its URL, or the object)"}
    props["targets"] = {
        "anyOf": [_URL_STRING, {**props["targets"], "items": target}],
        "description": props["targets"].get("description", "the backends"),
    }
    method = {"type": "string", "pattern": HTTP_METHOD}
    props["method"] = {**method, "description": "one HTTP method"}
    props["methods"] = {**_one_or_many(method), "default": []}
    props["hosts"] = {
        **_one_or_many({"type": "string", "pattern": HOST, "maxLength": 253}),
        "default": [],
    }
    props["headers"] = {
        "anyOf": [
            props["headers"],
            {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "name: value",
            },
        ],
        "default": [],
    }
    props["name"] = {"type": ["string", "null"], "pattern": NAME, "default": None}
    props["rewritePrefix"] = {
        "type": ["string", "null"],
        "pattern": CANONICAL_PATH,
        "default": None,
    }
    props["hashOn"] = {
        "type": ["string", "null"],
        "pattern": HEADER_NAME,
        "default": None,
        "description": "a header name, or consumer",
    }
    props["path"] = {"type": "string", "maxLength": MAX_PATH}
    props["models"] = {
        **_one_or_many({"type": "string", "minLength": 1, "maxLength": 256}),
        "default": [],
        "description": "model names or * globs the body's model must match",
    }
    schema["required"] = [r for r in schema.get("required", []) if r != "targets"]
    schema["oneOf"] = [{"required": ["targets"]}, {"required": ["target"]}]
    schema["not"] = {"required": ["method", "methods"]}
    schema["if"] = {"properties": {"match": {"const": "regex"}}, "required": ["match"]}
    schema["then"] = {"properties": {"path": {"description": "a regex RE2 can run"}}}
    schema["else"] = {"properties": {"path": {"pattern": CANONICAL_PATH}}}


REDACTED = "<redacted>"
# A value shown as written: an environment reference, alone or after a scheme word.
_ENV_ONLY = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]* )?\$\{[A-Za-z_][A-Za-z0-9_]{0,127}\}")
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Headers the gateway itself writes or that frame the message: never set from config.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
     "te", "trailer", "expect", "x-request-id", "x-forwarded-for", "x-forwarded-proto",
     "x-forwarded-host", "x-ai-gateway-consumer", "proxy-connection"}
)  # fmt: skip


class TargetAuthSpec(SpecModel):
    """A credential the gateway adds to each request to the target, in place of any the client
    sent under that header. ``${NAME}`` in ``value`` is the data plane's environment variable
    NAME (``Bearer ${OPENAI_API_KEY}``); any other value is a secret the control plane keeps and
    never shows again (it reads back as ``<redacted>``; writing ``<redacted>`` keeps it)."""

    header: str = Field(json_schema_extra={"pattern": HEADER_NAME, "maxLength": 128})
    value: str = Field(min_length=1, max_length=4096)

    @field_validator("header")
    @classmethod
    def _header(cls, header: str) -> str:
        if not HEADER_NAME_RE.fullmatch(header) or len(header) > 128:
            raise ValueError(f"{header[:64]!r} is not a header name (like Authorization)")
        if header.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{header} is set by the gateway itself; use Authorization, "
                             "x-api-key or another header")  # fmt: skip
        return header

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if value != value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError(
                "the value holds a control character or surrounding spaces, which a header "
                "may not; remove them"
            )
        for name in _ENV_REF.findall(value):
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(
                    f"${{{name}}} is not an environment variable name; use letters, digits and "
                    "'_', like ${OPENAI_API_KEY}"
                )
        return value

    @property
    def is_stored_secret(self) -> bool:
        """Whether the value is the secret itself (not a reference to the environment)."""
        return _ENV_ONLY.fullmatch(self.value) is None


class TargetSpec(SpecModel):
    """One backend of a route; higher ``weight`` gets more traffic, ``priority`` 0 is tried first.

    ``model``: the name this backend gets in the request body's ``model`` (a virtual model
    name: clients ask for the route's name, each backend gets its own).
    """

    model_config = ConfigDict(json_schema_extra=_string_or_object)

    url: str = Field(json_schema_extra={"pattern": URL_PREFIX, "maxLength": 2048})
    weight: int = Field(1, ge=0, le=10_000)
    priority: int = Field(0, ge=0, le=100)
    model: str | None = Field(None, min_length=1, max_length=256)
    auth: TargetAuthSpec | None = None
    # The model's context window in tokens: a request whose prompt's estimate is larger
    # skips this target without calling it.
    context_window: int | None = Field(None, ge=1, le=100_000_000)

    @field_validator("model")
    @classmethod
    def _model(cls, model: str | None) -> str | None:
        if model is not None and "*" in model:
            raise ValueError(f"model {model!r}: a target names one model, without '*'")
        return None if model is None else check_model_pattern(model)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_target_url(url)


class HeaderMatchSpec(SpecModel):
    """Match a request header: exactly one of ``value``, ``regex`` or ``present``."""

    name: str = Field(json_schema_extra={"pattern": HEADER_NAME})
    value: str | None = None
    regex: str | None = None
    present: bool | None = None
    invert: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not HEADER_NAME_RE.fullmatch(name):
            raise ValueError(f"'{name}' is not a valid header name")
        return name.lower()

    @field_validator("regex")
    @classmethod
    def _regex(cls, regex: str | None) -> str | None:
        if regex is not None:
            try:
                compile_regex(regex)
            except ValueError as exc:
                raise ValueError(f"{regex!r} is not a usable regular expression: {exc}") from None
        return regex

    @model_validator(mode="after")
    def _one_kind(self) -> HeaderMatchSpec:
        given = [k for k in ("value", "regex", "present") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, regex or present")
        if self.present is False:
            raise ValueError(
                "present must be true; to require absence use present: true, invert: true"
            )
        return self

    @property
    def kind(self) -> Literal["exact", "regex", "present"]:
        if self.value is not None:
            return "exact"
        return "regex" if self.regex is not None else "present"


class TimeoutsSpec(SpecModel):
    """Seconds. Streams have no total cutoff unless ``total`` is set."""

    connect: float = Field(5.0, gt=0, le=300)
    first_byte: float = Field(120.0, gt=0, le=3600)
    idle: float = Field(120.0, gt=0, le=3600)
    total: float = Field(0.0, ge=0, le=86_400)


class RetriesSpec(SpecModel):
    """Tries in all (1 = no retry), on another target, for requests whose body can be replayed."""

    attempts: int = Field(2, ge=1, le=5)
    on_statuses: tuple[int, ...] = (502, 503, 504)
    per_try_timeout: float | None = Field(None, gt=0, le=3600)

    @field_validator("on_statuses")
    @classmethod
    def _statuses(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        for status in statuses:
            if not 500 <= status <= 599 and status != 429:
                raise ValueError(f"{status} is not retryable; use 5xx statuses (or 429)")
        return statuses


class HealthCheckSpec(SpecModel):
    """Active checks: GET ``path`` on every target each ``interval`` seconds."""

    path: str = Field("/healthz", json_schema_extra={"pattern": CANONICAL_PATH})
    interval: float = Field(10.0, ge=0.1, le=3600)
    timeout: float = Field(2.0, gt=0, le=60)
    healthy_threshold: int = Field(2, ge=1, le=10)
    unhealthy_threshold: int = Field(3, ge=1, le=10)
    expected_statuses: tuple[int, ...] = (200,)

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        return check_route_path(path)


class LeastLoadedSpec(SpecModel):
    """How ``loadBalancer: least-loaded`` reads the model servers: their ``metricsPath``
    every ``scrapeInterval`` seconds (a load older than three intervals is stale: then
    least-request). ``prefixAffinity``: send requests whose prompts start with the same
    that many characters to the same server while it is not overloaded (0: off)."""

    metrics_path: str = Field("/metrics", json_schema_extra={"pattern": CANONICAL_PATH})
    scrape_interval: float = Field(1.0, ge=0.1, le=60)
    prefix_affinity: int = Field(0, ge=0, le=100_000)

    @field_validator("metrics_path")
    @classmethod
    def _path(cls, path: str) -> str:
        return check_route_path(path)


class OutlierDetectionSpec(SpecModel):
    """Passive health: eject a target after consecutive failures (connect errors, resets, 5xx).

    Unset fields take the data plane's defaults, which are Envoy's: 5 failures,
    30 s x times ejected (``--ejection-seconds``), capped at 300 s. The default
    share of a route's targets that may be out at once is 100 %, not Envoy's
    10 %: a failover group must be able to empty so its fallback takes over, and
    the panic threshold already keeps traffic off a too-small set of survivors.
    """

    consecutive_failures: int | None = Field(None, ge=1, le=1000)
    base_ejection: float | None = Field(None, gt=0, le=3600)
    max_ejection: float | None = Field(None, gt=0, le=86_400)
    max_ejection_percent: int | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> OutlierDetectionSpec:
        base, cap = self.base_ejection, self.max_ejection
        if base is not None and cap is not None and cap < base:
            raise ValueError(f"maxEjection ({cap:g}) must not be below baseEjection ({base:g})")
        return self


class CircuitBreakerSpec(SpecModel):
    """Limits per target; beyond them a request gets an immediate 503 with Retry-After
    (or goes to another target) instead of waiting without bound. Unset: 1024 each
    (``maxRequests``: the data plane's ``--max-requests-per-target``);
    ``maxPendingRequests: 0`` never queues: no free connection, no wait."""

    max_connections: int | None = Field(None, ge=1, le=1_000_000)
    max_pending_requests: int | None = Field(None, ge=0, le=1_000_000)  # 0: never queue
    max_requests: int | None = Field(None, ge=1, le=1_000_000)


FallbackCondition = Literal["429", "5xx", "timeout", "context_length"]
FALLBACK_CONDITIONS: tuple[FallbackCondition, ...] = ("429", "5xx", "timeout", "context_length")
MAX_FALLBACKS = 8


class FallbackSpec(SpecModel):
    """What a route tries when its answer is one of ``fallbackOn``: another ``model`` on the
    route's own targets, or another ``target`` (with its ``model``)."""

    model: str | None = Field(None, min_length=1, max_length=256)
    target: TargetSpec | None = None

    @model_validator(mode="after")
    def _something(self) -> FallbackSpec:
        if self.model is None and self.target is None:
            raise ValueError(
                "a fallback names a model, a target or both: {model: gpt-4o-mini} or "
                "{target: http://backup:8000, model: llama-3-8b}"
            )
        if self.target is not None and self.target.auth and self.target.auth.is_stored_secret:
            raise ValueError(
                "a fallback target's auth value comes from the data plane's environment: "
                'write it like "Bearer ${BACKUP_API_KEY}"'
            )
        return self

    @field_validator("model")
    @classmethod
    def _model(cls, model: str | None) -> str | None:
        if model is not None and "*" in model:
            raise ValueError(f"model {model!r}: a fallback names one model, without '*'")
        return None if model is None else check_model_pattern(model)


def _conditions(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [str(v) if type(v) is int else v for v in value]
    return value


class RouteSpec(SpecModel):
    """What a user writes for a route (REST body, YAML item, CLI flags)."""

    model_config = ConfigDict(json_schema_extra=_route_shorthands)

    name: str | None = None
    match: MatchKind = "prefix"  # before path: the path is checked according to it
    path: str
    methods: tuple[str, ...] = ()
    headers: tuple[HeaderMatchSpec, ...] = ()
    hosts: tuple[str, ...] = ()
    targets: tuple[TargetSpec, ...] = Field(min_length=1, max_length=256)
    strip_prefix: bool = False
    rewrite_prefix: str | None = None
    timeouts: TimeoutsSpec = TimeoutsSpec()
    load_balancer: LoadBalancer = "round-robin"
    hash_on: str | None = None
    least_loaded: LeastLoadedSpec | None = None
    retries: RetriesSpec = RetriesSpec()
    health_check: HealthCheckSpec | None = None
    outlier_detection: OutlierDetectionSpec = OutlierDetectionSpec()
    circuit_breaker: CircuitBreakerSpec = CircuitBreakerSpec()
    models: tuple[str, ...] = Field((), max_length=MAX_MODELS)
    fallbacks: tuple[FallbackSpec, ...] = Field((), max_length=MAX_FALLBACKS)
    fallback_on: tuple[FallbackCondition, ...] = FALLBACK_CONDITIONS
    # Who the route belongs to (``apply --select-tag``), and what it is for; the data
    # planes never see them.
    tags: tuple[str, ...] = Field((), json_schema_extra={"items": {"pattern": TAG}})

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        return check_tags(tags)

    @field_validator("fallback_on", mode="before")
    @classmethod
    def _fallback_on(cls, value: Any) -> Any:
        """``[429, 5xx]``: YAML reads 429 as a number."""
        return _conditions(value)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """Accept the product's short forms: ``target: URL``, ``method: POST``, header maps."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "target" in data:
            if "targets" in data:
                raise ValueError("give either target or targets, not both")
            data["targets"] = [data.pop("target")]
        if "method" in data:
            if "methods" in data:
                raise ValueError("give either method or methods, not both")
            data["methods"] = [data.pop("method")]
        for key in ("methods", "hosts", "targets", "models"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
        if isinstance(data.get("headers"), dict):
            data["headers"] = [{"name": k, "value": v} for k, v in data["headers"].items()]
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not NAME_RE.fullmatch(name):
            raise ValueError(
                f"'{name}' is not a valid name: use 1-63 lower-case letters, digits, '.', '_' or '-'"
            )
        return name

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(dict.fromkeys(m.upper() for m in methods))
        for method in upper:
            if method not in HTTP_METHODS:
                raise ValueError(
                    f"'{method}' is not an HTTP method; use one of {sorted(HTTP_METHODS)}"
                )
        return upper

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:  # checked before lowering: 'K' (the Kelvin sign) lowers to 'k'
            if len(host) > 253 or not HOST_RE.fullmatch(host):
                raise ValueError(
                    f"'{host}' is not a host name (a leading '*.' wildcard is allowed)"
                )
        return tuple(h.lower() for h in hosts)

    @field_validator("models")
    @classmethod
    def _models(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        for model in models:
            check_model_pattern(model)
        models = tuple(dict.fromkeys(models))
        try:  # as the data planes will compile them: all the globs make one RE2 pattern
            ModelMatcher(models)
        except ValueError as exc:
            raise ValueError(f"models: {exc}; use fewer or shorter globs") from None
        return models

    @field_validator("hash_on")
    @classmethod
    def _hash_on(cls, hash_on: str | None) -> str | None:
        if hash_on is not None and not HEADER_NAME_RE.fullmatch(hash_on):
            raise ValueError(f"{hash_on!r} is neither a header name nor 'consumer'")
        return hash_on

    @field_validator("rewrite_prefix")
    @classmethod
    def _rewrite(cls, prefix: str | None) -> str | None:
        return None if prefix is None else check_route_path(prefix)

    @field_validator("path")
    @classmethod
    def _path(cls, path: str, info: ValidationInfo) -> str:
        if info.data.get("match") != "regex":
            return check_route_path(path)
        try:
            compile_regex(path)
        except ValueError as exc:
            raise ValueError(f"Invalid route path {path!r}: not a usable regex: {exc}") from None
        return path

    @model_validator(mode="after")
    def _consistent(self) -> RouteSpec:
        if self.match == "regex" and self.strip_prefix:
            raise ValueError("stripPrefix needs a prefix or exact match, not a regex")
        if self.load_balancer == "consistent-hash" and not self.hash_on:
            raise ValueError(
                "loadBalancer consistent-hash needs hashOn (a header name or 'consumer')"
            )
        if all(t.weight == 0 for t in self.targets):
            raise ValueError("at least one target needs a weight above 0")
        if self.least_loaded is not None and self.load_balancer != "least-loaded":
            raise ValueError("leastLoaded goes with loadBalancer: least-loaded; set it, or "
                             "remove leastLoaded")  # fmt: skip
        return self

    @property
    def effective_name(self) -> str:
        return self.name or name_from_path(self.path)


def redact_route(document: dict[str, Any]) -> dict[str, Any]:
    """A route's document as the API shows it: stored credentials replaced by ``<redacted>``."""
    targets = document.get("targets")
    if not targets or not any(isinstance(t, dict) and t.get("auth") for t in targets):
        return document
    shown = []
    for target in targets:
        auth = target.get("auth") if isinstance(target, dict) else None
        if auth and _ENV_ONLY.fullmatch(str(auth.get("value", ""))) is None:
            target = {**target, "auth": {**auth, "value": REDACTED}}
        shown.append(target)
    return {**document, "targets": shown}


def keep_stored_secrets(spec: RouteSpec, stored: RouteSpec | None, where: str) -> RouteSpec:
    """``spec`` with each ``<redacted>`` credential replaced by the stored one of the same
    target (URL and header): what a read-modify-write of a route means. ValueError when there
    is none to keep."""
    if not any(t.auth is not None and t.auth.value == REDACTED for t in spec.targets):
        return spec
    kept = {
        (t.url, t.auth.header.lower()): t.auth
        for t in (stored.targets if stored is not None else ())
        if t.auth is not None
    }
    targets = []
    for index, target in enumerate(spec.targets):
        if target.auth is not None and target.auth.value == REDACTED:
            previous = kept.get((target.url, target.auth.header.lower()))
            if previous is None:
                raise ValueError(
                    f"{where}targets[{index}].auth.value is '<redacted>' but no credential is "
                    f"stored for {target.url} ({target.auth.header}); give the value"
                )
            target = target.model_copy(update={"auth": previous})
        targets.append(target)
    return spec.model_copy(update={"targets": tuple(targets)})


def name_from_path(path: str) -> str:
    """'/v1/chat/completions' -> 'v1-chat-completions'; '/' -> 'root'."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
    return slug[:63].rstrip("-") or "root"
