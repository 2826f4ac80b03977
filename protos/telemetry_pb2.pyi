from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BudgetLedgerRequest(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    def __init__(self, cluster: _Optional[str] = ...) -> None: ...

class BudgetLedgerAnswer(_message.Message):
    __slots__ = ("counts", "reporters")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    REPORTERS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[BudgetCharge]
    reporters: _containers.RepeatedCompositeFieldContainer[ReporterBatch]
    def __init__(self, counts: _Optional[_Iterable[_Union[BudgetCharge, _Mapping]]] = ..., reporters: _Optional[_Iterable[_Union[ReporterBatch, _Mapping]]] = ...) -> None: ...

class ReporterBatch(_message.Message):
    __slots__ = ("node_id", "started_at", "batch")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    started_at: float
    batch: int
    def __init__(self, node_id: _Optional[str] = ..., started_at: _Optional[float] = ..., batch: _Optional[int] = ...) -> None: ...

class Histogram(_message.Message):
    __slots__ = ("bounds", "counts", "sum")
    BOUNDS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    bounds: _containers.RepeatedScalarFieldContainer[float]
    counts: _containers.RepeatedScalarFieldContainer[int]
    sum: float
    def __init__(self, bounds: _Optional[_Iterable[float]] = ..., counts: _Optional[_Iterable[int]] = ..., sum: _Optional[float] = ...) -> None: ...

class RouteTraffic(_message.Message):
    __slots__ = ("route", "requests_by_status", "duration", "request_bytes", "response_bytes")
    class RequestsByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
    route: str
    requests_by_status: _containers.ScalarMap[str, int]
    duration: Histogram
    request_bytes: int
    response_bytes: int
    def __init__(self, route: _Optional[str] = ..., requests_by_status: _Optional[_Mapping[str, int]] = ..., duration: _Optional[_Union[Histogram, _Mapping]] = ..., request_bytes: _Optional[int] = ..., response_bytes: _Optional[int] = ...) -> None: ...

class TargetTraffic(_message.Message):
    __slots__ = ("route", "target", "responses_by_status")
    class ResponsesByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    route: str
    target: str
    responses_by_status: _containers.ScalarMap[str, int]
    def __init__(self, route: _Optional[str] = ..., target: _Optional[str] = ..., responses_by_status: _Optional[_Mapping[str, int]] = ...) -> None: ...

class TargetState(_message.Message):
    __slots__ = ("target", "state", "consecutive_failures", "times_ejected", "in_flight")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    TIMES_EJECTED_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    target: str
    state: str
    consecutive_failures: int
    times_ejected: int
    in_flight: int
    def __init__(self, target: _Optional[str] = ..., state: _Optional[str] = ..., consecutive_failures: _Optional[int] = ..., times_ejected: _Optional[int] = ..., in_flight: _Optional[int] = ...) -> None: ...

class TokenTraffic(_message.Message):
    __slots__ = ("route", "model", "consumer", "requests", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "estimated_requests", "cost_usd")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    route: str
    model: str
    consumer: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    estimated_requests: int
    cost_usd: float
    def __init__(self, route: _Optional[str] = ..., model: _Optional[str] = ..., consumer: _Optional[str] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., estimated_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class ModelLatency(_message.Message):
    __slots__ = ("model", "time_to_first_token", "time_per_output_token")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TIME_PER_OUTPUT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model: str
    time_to_first_token: Histogram
    time_per_output_token: Histogram
    def __init__(self, model: _Optional[str] = ..., time_to_first_token: _Optional[_Union[Histogram, _Mapping]] = ..., time_per_output_token: _Optional[_Union[Histogram, _Mapping]] = ...) -> None: ...

class BudgetEvent(_message.Message):
    __slots__ = ("type", "scope", "caller", "spent", "budget", "unit", "period")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    type: str
    scope: str
    caller: str
    spent: float
    budget: float
    unit: str
    period: str
    def __init__(self, type: _Optional[str] = ..., scope: _Optional[str] = ..., caller: _Optional[str] = ..., spent: _Optional[float] = ..., budget: _Optional[float] = ..., unit: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class BudgetCharge(_message.Message):
    __slots__ = ("key", "scope", "caller", "period", "unit", "budget", "amount", "expires_at")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    key: str
    scope: str
    caller: str
    period: str
    unit: str
    budget: float
    amount: int
    expires_at: float
    def __init__(self, key: _Optional[str] = ..., scope: _Optional[str] = ..., caller: _Optional[str] = ..., period: _Optional[str] = ..., unit: _Optional[str] = ..., budget: _Optional[float] = ..., amount: _Optional[int] = ..., expires_at: _Optional[float] = ...) -> None: ...

class TelemetryReport(_message.Message):
    __slots__ = ("node_id", "cluster", "version", "started_at", "routes", "targets", "health", "in_flight", "complete", "tokens", "model_latency", "budget_events", "charges_batch", "budget_charges", "limit_uses")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MODEL_LATENCY_FIELD_NUMBER: _ClassVar[int]
    BUDGET_EVENTS_FIELD_NUMBER: _ClassVar[int]
    CHARGES_BATCH_FIELD_NUMBER: _ClassVar[int]
    BUDGET_CHARGES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_USES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    cluster: str
    version: str
    started_at: float
    routes: _containers.RepeatedCompositeFieldContainer[RouteTraffic]
    targets: _containers.RepeatedCompositeFieldContainer[TargetTraffic]
    health: _containers.RepeatedCompositeFieldContainer[TargetState]
    in_flight: int
    complete: bool
    tokens: _containers.RepeatedCompositeFieldContainer[TokenTraffic]
    model_latency: _containers.RepeatedCompositeFieldContainer[ModelLatency]
    budget_events: _containers.RepeatedCompositeFieldContainer[BudgetEvent]
    charges_batch: int
    budget_charges: _containers.RepeatedCompositeFieldContainer[BudgetCharge]
    limit_uses: _containers.RepeatedCompositeFieldContainer[LimitUse]
    def __init__(self, node_id: _Optional[str] = ..., cluster: _Optional[str] = ..., version: _Optional[str] = ..., started_at: _Optional[float] = ..., routes: _Optional[_Iterable[_Union[RouteTraffic, _Mapping]]] = ..., targets: _Optional[_Iterable[_Union[TargetTraffic, _Mapping]]] = ..., health: _Optional[_Iterable[_Union[TargetState, _Mapping]]] = ..., in_flight: _Optional[int] = ..., complete: _Optional[bool] = ..., tokens: _Optional[_Iterable[_Union[TokenTraffic, _Mapping]]] = ..., model_latency: _Optional[_Iterable[_Union[ModelLatency, _Mapping]]] = ..., budget_events: _Optional[_Iterable[_Union[BudgetEvent, _Mapping]]] = ..., charges_batch: _Optional[int] = ..., budget_charges: _Optional[_Iterable[_Union[BudgetCharge, _Mapping]]] = ..., limit_uses: _Optional[_Iterable[_Union[LimitUse, _Mapping]]] = ...) -> None: ...

class LimitUse(_message.Message):
    __slots__ = ("scope", "caller", "limit", "period_seconds", "tokens")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    caller: str
    limit: int
    period_seconds: float
    tokens: int
    def __init__(self, scope: _Optional[str] = ..., caller: _Optional[str] = ..., limit: _Optional[int] = ..., period_seconds: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class TelemetryAck(_message.Message):
    __slots__ = ("interval_seconds", "want_complete")
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WANT_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    interval_seconds: float
    want_complete: bool
    def __init__(self, interval_seconds: _Optional[float] = ..., want_complete: _Optional[bool] = ...) -> None: ...
