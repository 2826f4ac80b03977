from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PathMatch(_message.Message):
    __slots__ = ("kind", "value")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PREFIX: _ClassVar[PathMatch.Kind]
        EXACT: _ClassVar[PathMatch.Kind]
        REGEX: _ClassVar[PathMatch.Kind]
    PREFIX: PathMatch.Kind
    EXACT: PathMatch.Kind
    REGEX: PathMatch.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    kind: PathMatch.Kind
    value: str
    def __init__(self, kind: _Optional[_Union[PathMatch.Kind, str]] = ..., value: _Optional[str] = ...) -> None: ...

class HeaderMatch(_message.Message):
    __slots__ = ("name", "kind", "value", "invert")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EXACT: _ClassVar[HeaderMatch.Kind]
        REGEX: _ClassVar[HeaderMatch.Kind]
        PRESENT: _ClassVar[HeaderMatch.Kind]
    EXACT: HeaderMatch.Kind
    REGEX: HeaderMatch.Kind
    PRESENT: HeaderMatch.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    INVERT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: HeaderMatch.Kind
    value: str
    invert: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[HeaderMatch.Kind, str]] = ..., value: _Optional[str] = ..., invert: _Optional[bool] = ...) -> None: ...

class TargetAuth(_message.Message):
    __slots__ = ("header", "value")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    header: str
    value: str
    def __init__(self, header: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("url", "weight", "priority", "model", "auth", "context_window")
    URL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    url: str
    weight: int
    priority: int
    model: str
    auth: TargetAuth
    context_window: int
    def __init__(self, url: _Optional[str] = ..., weight: _Optional[int] = ..., priority: _Optional[int] = ..., model: _Optional[str] = ..., auth: _Optional[_Union[TargetAuth, _Mapping]] = ..., context_window: _Optional[int] = ...) -> None: ...

class Fallback(_message.Message):
    __slots__ = ("model", "target")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    model: str
    target: Target
    def __init__(self, model: _Optional[str] = ..., target: _Optional[_Union[Target, _Mapping]] = ...) -> None: ...

class Timeouts(_message.Message):
    __slots__ = ("connect_seconds", "first_byte_seconds", "idle_seconds", "total_seconds")
    CONNECT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FIRST_BYTE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    connect_seconds: float
    first_byte_seconds: float
    idle_seconds: float
    total_seconds: float
    def __init__(self, connect_seconds: _Optional[float] = ..., first_byte_seconds: _Optional[float] = ..., idle_seconds: _Optional[float] = ..., total_seconds: _Optional[float] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("attempts", "on_statuses", "per_try_timeout_seconds")
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ON_STATUSES_FIELD_NUMBER: _ClassVar[int]
    PER_TRY_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    on_statuses: _containers.RepeatedScalarFieldContainer[int]
    per_try_timeout_seconds: float
    def __init__(self, attempts: _Optional[int] = ..., on_statuses: _Optional[_Iterable[int]] = ..., per_try_timeout_seconds: _Optional[float] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("path", "interval_seconds", "timeout_seconds", "healthy_threshold", "unhealthy_threshold", "expected_statuses")
    PATH_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UNHEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STATUSES_FIELD_NUMBER: _ClassVar[int]
    path: str
    interval_seconds: float
    timeout_seconds: float
    healthy_threshold: int
    unhealthy_threshold: int
    expected_statuses: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, path: _Optional[str] = ..., interval_seconds: _Optional[float] = ..., timeout_seconds: _Optional[float] = ..., healthy_threshold: _Optional[int] = ..., unhealthy_threshold: _Optional[int] = ..., expected_statuses: _Optional[_Iterable[int]] = ...) -> None: ...

class OutlierDetection(_message.Message):
    __slots__ = ("consecutive_failures", "base_ejection_seconds", "max_ejection_seconds", "max_ejection_percent")
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    BASE_EJECTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    consecutive_failures: int
    base_ejection_seconds: float
    max_ejection_seconds: float
    max_ejection_percent: int
    def __init__(self, consecutive_failures: _Optional[int] = ..., base_ejection_seconds: _Optional[float] = ..., max_ejection_seconds: _Optional[float] = ..., max_ejection_percent: _Optional[int] = ...) -> None: ...

class CircuitBreaker(_message.Message):
    __slots__ = ("max_connections", "max_pending_requests", "max_requests")
    MAX_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    max_connections: int
    max_pending_requests: int
    max_requests: int
    def __init__(self, max_connections: _Optional[int] = ..., max_pending_requests: _Optional[int] = ..., max_requests: _Optional[int] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("id", "name", "path", "methods", "headers", "hosts", "targets", "strip_prefix", "rewrite_prefix", "timeouts", "retry", "load_balancer", "hash_on", "health_check", "labels", "outlier_detection", "circuit_breaker", "models", "fallbacks", "fallback_on", "least_loaded")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    STRIP_PREFIX_FIELD_NUMBER: _ClassVar[int]
    REWRITE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    HASH_ON_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_DETECTION_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_ON_FIELD_NUMBER: _ClassVar[int]
    LEAST_LOADED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    path: PathMatch
    methods: _containers.RepeatedScalarFieldContainer[str]
    headers: _containers.RepeatedCompositeFieldContainer[HeaderMatch]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    targets: _containers.RepeatedCompositeFieldContainer[Target]
    strip_prefix: bool
    rewrite_prefix: str
    timeouts: Timeouts
    retry: RetryPolicy
    load_balancer: str
    hash_on: str
    health_check: HealthCheck
    labels: _containers.ScalarMap[str, str]
    outlier_detection: OutlierDetection
    circuit_breaker: CircuitBreaker
    models: _containers.RepeatedScalarFieldContainer[str]
    fallbacks: _containers.RepeatedCompositeFieldContainer[Fallback]
    fallback_on: _containers.RepeatedScalarFieldContainer[str]
    least_loaded: LeastLoaded
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., path: _Optional[_Union[PathMatch, _Mapping]] = ..., methods: _Optional[_Iterable[str]] = ..., headers: _Optional[_Iterable[_Union[HeaderMatch, _Mapping]]] = ..., hosts: _Optional[_Iterable[str]] = ..., targets: _Optional[_Iterable[_Union[Target, _Mapping]]] = ..., strip_prefix: _Optional[bool] = ..., rewrite_prefix: _Optional[str] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., load_balancer: _Optional[str] = ..., hash_on: _Optional[str] = ..., health_check: _Optional[_Union[HealthCheck, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., outlier_detection: _Optional[_Union[OutlierDetection, _Mapping]] = ..., circuit_breaker: _Optional[_Union[CircuitBreaker, _Mapping]] = ..., models: _Optional[_Iterable[str]] = ..., fallbacks: _Optional[_Iterable[_Union[Fallback, _Mapping]]] = ..., fallback_on: _Optional[_Iterable[str]] = ..., least_loaded: _Optional[_Union[LeastLoaded, _Mapping]] = ...) -> None: ...

class LeastLoaded(_message.Message):
    __slots__ = ("metrics_path", "scrape_interval_seconds", "prefix_affinity")
    METRICS_PATH_FIELD_NUMBER: _ClassVar[int]
    SCRAPE_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_AFFINITY_FIELD_NUMBER: _ClassVar[int]
    metrics_path: str
    scrape_interval_seconds: float
    prefix_affinity: int
    def __init__(self, metrics_path: _Optional[str] = ..., scrape_interval_seconds: _Optional[float] = ..., prefix_affinity: _Optional[int] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("requests", "period_seconds", "scope")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    requests: int
    period_seconds: float
    scope: str
    def __init__(self, requests: _Optional[int] = ..., period_seconds: _Optional[float] = ..., scope: _Optional[str] = ...) -> None: ...

class TokenLimit(_message.Message):
    __slots__ = ("tokens", "period_seconds")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    tokens: int
    period_seconds: float
    def __init__(self, tokens: _Optional[int] = ..., period_seconds: _Optional[float] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("usd", "tokens", "per", "warn_at")
    USD_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    PER_FIELD_NUMBER: _ClassVar[int]
    WARN_AT_FIELD_NUMBER: _ClassVar[int]
    usd: float
    tokens: int
    per: str
    warn_at: float
    def __init__(self, usd: _Optional[float] = ..., tokens: _Optional[int] = ..., per: _Optional[str] = ..., warn_at: _Optional[float] = ...) -> None: ...

class SecurityPolicy(_message.Message):
    __slots__ = ("id", "endpoint", "auth", "rate_limit", "jwt_providers", "token_limit", "budget", "default_max_tokens", "cut_when_exceeded")
    class AuthType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[SecurityPolicy.AuthType]
        JWT: _ClassVar[SecurityPolicy.AuthType]
        API_KEY: _ClassVar[SecurityPolicy.AuthType]
    NONE: SecurityPolicy.AuthType
    JWT: SecurityPolicy.AuthType
    API_KEY: SecurityPolicy.AuthType
    ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    JWT_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CUT_WHEN_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    id: str
    endpoint: str
    auth: SecurityPolicy.AuthType
    rate_limit: RateLimit
    jwt_providers: _containers.RepeatedScalarFieldContainer[str]
    token_limit: TokenLimit
    budget: Budget
    default_max_tokens: int
    cut_when_exceeded: bool
    def __init__(self, id: _Optional[str] = ..., endpoint: _Optional[str] = ..., auth: _Optional[_Union[SecurityPolicy.AuthType, str]] = ..., rate_limit: _Optional[_Union[RateLimit, _Mapping]] = ..., jwt_providers: _Optional[_Iterable[str]] = ..., token_limit: _Optional[_Union[TokenLimit, _Mapping]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., default_max_tokens: _Optional[int] = ..., cut_when_exceeded: _Optional[bool] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "hash", "prefix", "expires_at_unix", "route_scope")
    ID_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    ROUTE_SCOPE_FIELD_NUMBER: _ClassVar[int]
    id: str
    hash: bytes
    prefix: str
    expires_at_unix: int
    route_scope: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., hash: _Optional[bytes] = ..., prefix: _Optional[str] = ..., expires_at_unix: _Optional[int] = ..., route_scope: _Optional[_Iterable[str]] = ...) -> None: ...

class Consumer(_message.Message):
    __slots__ = ("id", "name", "keys")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class JwtProvider(_message.Message):
    __slots__ = ("name", "issuer", "audiences", "algorithms", "hmac_secret", "public_key_pem", "jwks_url", "consumer_claim", "leeway_seconds", "required_claims")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    ALGORITHMS_FIELD_NUMBER: _ClassVar[int]
    HMAC_SECRET_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    JWKS_URL_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_CLAIM_FIELD_NUMBER: _ClassVar[int]
    LEEWAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    issuer: str
    audiences: _containers.RepeatedScalarFieldContainer[str]
    algorithms: _containers.RepeatedScalarFieldContainer[str]
    hmac_secret: bytes
    public_key_pem: str
    jwks_url: str
    consumer_claim: str
    leeway_seconds: float
    required_claims: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., issuer: _Optional[str] = ..., audiences: _Optional[_Iterable[str]] = ..., algorithms: _Optional[_Iterable[str]] = ..., hmac_secret: _Optional[bytes] = ..., public_key_pem: _Optional[str] = ..., jwks_url: _Optional[str] = ..., consumer_claim: _Optional[str] = ..., leeway_seconds: _Optional[float] = ..., required_claims: _Optional[_Iterable[str]] = ...) -> None: ...

class DataPlaneSettings(_message.Message):
    __slots__ = ("log_level", "callback_url")
    LOG_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    log_level: str
    callback_url: str
    def __init__(self, log_level: _Optional[str] = ..., callback_url: _Optional[str] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("input", "output", "cached_input")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    input: float
    output: float
    cached_input: float
    def __init__(self, input: _Optional[float] = ..., output: _Optional[float] = ..., cached_input: _Optional[float] = ...) -> None: ...

class TeamMembers(_message.Message):
    __slots__ = ("consumers",)
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    consumers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, consumers: _Optional[_Iterable[str]] = ...) -> None: ...

class ScopedLimit(_message.Message):
    __slots__ = ("name", "team", "consumer", "model", "endpoint", "token_limit", "budget", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    team: str
    consumer: str
    model: str
    endpoint: str
    token_limit: TokenLimit
    budget: Budget
    key: str
    def __init__(self, name: _Optional[str] = ..., team: _Optional[str] = ..., consumer: _Optional[str] = ..., model: _Optional[str] = ..., endpoint: _Optional[str] = ..., token_limit: _Optional[_Union[TokenLimit, _Mapping]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., key: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("cluster", "version", "revision", "routes", "security", "consumers", "jwt_providers", "settings", "api_key_secret", "prices", "teams", "limits")
    class PricesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Price
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Price, _Mapping]] = ...) -> None: ...
    class TeamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TeamMembers
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TeamMembers, _Mapping]] = ...) -> None: ...
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    JWT_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_SECRET_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    version: str
    revision: int
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    security: _containers.RepeatedCompositeFieldContainer[SecurityPolicy]
    consumers: _containers.RepeatedCompositeFieldContainer[Consumer]
    jwt_providers: _containers.RepeatedCompositeFieldContainer[JwtProvider]
    settings: DataPlaneSettings
    api_key_secret: bytes
    prices: _containers.MessageMap[str, Price]
    teams: _containers.MessageMap[str, TeamMembers]
    limits: _containers.RepeatedCompositeFieldContainer[ScopedLimit]
    def __init__(self, cluster: _Optional[str] = ..., version: _Optional[str] = ..., revision: _Optional[int] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., security: _Optional[_Iterable[_Union[SecurityPolicy, _Mapping]]] = ..., consumers: _Optional[_Iterable[_Union[Consumer, _Mapping]]] = ..., jwt_providers: _Optional[_Iterable[_Union[JwtProvider, _Mapping]]] = ..., settings: _Optional[_Union[DataPlaneSettings, _Mapping]] = ..., api_key_secret: _Optional[bytes] = ..., prices: _Optional[_Mapping[str, Price]] = ..., teams: _Optional[_Mapping[str, TeamMembers]] = ..., limits: _Optional[_Iterable[_Union[ScopedLimit, _Mapping]]] = ...) -> None: ...
