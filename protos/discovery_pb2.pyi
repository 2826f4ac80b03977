from protos import snapshot_pb2 as _snapshot_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Node(_message.Message):
    __slots__ = ("id", "cluster", "software_version", "hostname")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    cluster: str
    software_version: str
    hostname: str
    def __init__(self, id: _Optional[str] = ..., cluster: _Optional[str] = ..., software_version: _Optional[str] = ..., hostname: _Optional[str] = ...) -> None: ...

class DiscoveryRequest(_message.Message):
    __slots__ = ("node", "version_info", "response_nonce", "error_detail", "accepts_delta")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_INFO_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_NONCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_DETAIL_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    node: Node
    version_info: str
    response_nonce: str
    error_detail: str
    accepts_delta: bool
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., version_info: _Optional[str] = ..., response_nonce: _Optional[str] = ..., error_detail: _Optional[str] = ..., accepts_delta: _Optional[bool] = ...) -> None: ...

class DiscoveryResponse(_message.Message):
    __slots__ = ("snapshot", "nonce", "delta")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    snapshot: _snapshot_pb2.Snapshot
    nonce: str
    delta: SnapshotDelta
    def __init__(self, snapshot: _Optional[_Union[_snapshot_pb2.Snapshot, _Mapping]] = ..., nonce: _Optional[str] = ..., delta: _Optional[_Union[SnapshotDelta, _Mapping]] = ...) -> None: ...

class RouteChanges(_message.Message):
    __slots__ = ("removed", "upserted", "positions")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    upserted: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.Route]
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, removed: _Optional[_Iterable[str]] = ..., upserted: _Optional[_Iterable[_Union[_snapshot_pb2.Route, _Mapping]]] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class SecurityChanges(_message.Message):
    __slots__ = ("removed", "upserted", "positions")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    upserted: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.SecurityPolicy]
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, removed: _Optional[_Iterable[str]] = ..., upserted: _Optional[_Iterable[_Union[_snapshot_pb2.SecurityPolicy, _Mapping]]] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class ConsumerChanges(_message.Message):
    __slots__ = ("removed", "upserted", "positions")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    upserted: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.Consumer]
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, removed: _Optional[_Iterable[str]] = ..., upserted: _Optional[_Iterable[_Union[_snapshot_pb2.Consumer, _Mapping]]] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class SnapshotDelta(_message.Message):
    __slots__ = ("base_version", "head", "routes", "security", "consumers")
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    base_version: str
    head: _snapshot_pb2.Snapshot
    routes: RouteChanges
    security: SecurityChanges
    consumers: ConsumerChanges
    def __init__(self, base_version: _Optional[str] = ..., head: _Optional[_Union[_snapshot_pb2.Snapshot, _Mapping]] = ..., routes: _Optional[_Union[RouteChanges, _Mapping]] = ..., security: _Optional[_Union[SecurityChanges, _Mapping]] = ..., consumers: _Optional[_Union[ConsumerChanges, _Mapping]] = ...) -> None: ...
