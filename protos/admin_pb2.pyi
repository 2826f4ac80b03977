from protos import snapshot_pb2 as _snapshot_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateRouteRequest(_message.Message):
    __slots__ = ("cluster", "route")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    route: _snapshot_pb2.Route
    def __init__(self, cluster: _Optional[str] = ..., route: _Optional[_Union[_snapshot_pb2.Route, _Mapping]] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    def __init__(self, cluster: _Optional[str] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "revision")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.Route]
    revision: int
    def __init__(self, routes: _Optional[_Iterable[_Union[_snapshot_pb2.Route, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetRouteRequest(_message.Message):
    __slots__ = ("cluster", "id")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    id: str
    def __init__(self, cluster: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class UpdateRouteRequest(_message.Message):
    __slots__ = ("cluster", "id", "route")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    id: str
    route: _snapshot_pb2.Route
    def __init__(self, cluster: _Optional[str] = ..., id: _Optional[str] = ..., route: _Optional[_Union[_snapshot_pb2.Route, _Mapping]] = ...) -> None: ...

class DeleteRouteRequest(_message.Message):
    __slots__ = ("cluster", "id")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    id: str
    def __init__(self, cluster: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteRouteResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class PutSecurityPolicyRequest(_message.Message):
    __slots__ = ("cluster", "policy")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    policy: _snapshot_pb2.SecurityPolicy
    def __init__(self, cluster: _Optional[str] = ..., policy: _Optional[_Union[_snapshot_pb2.SecurityPolicy, _Mapping]] = ...) -> None: ...

class ListSecurityPoliciesRequest(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    def __init__(self, cluster: _Optional[str] = ...) -> None: ...

class ListSecurityPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.SecurityPolicy]
    def __init__(self, policies: _Optional[_Iterable[_Union[_snapshot_pb2.SecurityPolicy, _Mapping]]] = ...) -> None: ...

class DeleteSecurityPolicyRequest(_message.Message):
    __slots__ = ("cluster", "endpoint")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    endpoint: str
    def __init__(self, cluster: _Optional[str] = ..., endpoint: _Optional[str] = ...) -> None: ...

class DeleteSecurityPolicyResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class ListDataPlanesRequest(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    def __init__(self, cluster: _Optional[str] = ...) -> None: ...

class DataPlaneStatus(_message.Message):
    __slots__ = ("node_id", "cluster", "applied_version", "software_version", "hostname", "last_seen_unix", "last_nack", "connected")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_FIELD_NUMBER: _ClassVar[int]
    LAST_NACK_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    cluster: str
    applied_version: str
    software_version: str
    hostname: str
    last_seen_unix: float
    last_nack: str
    connected: bool
    def __init__(self, node_id: _Optional[str] = ..., cluster: _Optional[str] = ..., applied_version: _Optional[str] = ..., software_version: _Optional[str] = ..., hostname: _Optional[str] = ..., last_seen_unix: _Optional[float] = ..., last_nack: _Optional[str] = ..., connected: _Optional[bool] = ...) -> None: ...

class ListDataPlanesResponse(_message.Message):
    __slots__ = ("dataplanes",)
    DATAPLANES_FIELD_NUMBER: _ClassVar[int]
    dataplanes: _containers.RepeatedCompositeFieldContainer[DataPlaneStatus]
    def __init__(self, dataplanes: _Optional[_Iterable[_Union[DataPlaneStatus, _Mapping]]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("cluster", "consumer", "expires_in", "routes")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    consumer: str
    expires_in: str
    routes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cluster: _Optional[str] = ..., consumer: _Optional[str] = ..., expires_in: _Optional[str] = ..., routes: _Optional[_Iterable[str]] = ...) -> None: ...

class ApiKeyInfo(_message.Message):
    __slots__ = ("id", "consumer", "prefix", "expires_at_unix", "routes", "created_at_unix")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    id: str
    consumer: str
    prefix: str
    expires_at_unix: float
    routes: _containers.RepeatedScalarFieldContainer[str]
    created_at_unix: float
    def __init__(self, id: _Optional[str] = ..., consumer: _Optional[str] = ..., prefix: _Optional[str] = ..., expires_at_unix: _Optional[float] = ..., routes: _Optional[_Iterable[str]] = ..., created_at_unix: _Optional[float] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "plaintext")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    key: ApiKeyInfo
    plaintext: str
    def __init__(self, key: _Optional[_Union[ApiKeyInfo, _Mapping]] = ..., plaintext: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    def __init__(self, cluster: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKeyInfo, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("cluster", "id")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    id: str
    def __init__(self, cluster: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class PutJwtProviderRequest(_message.Message):
    __slots__ = ("cluster", "provider")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    provider: _snapshot_pb2.JwtProvider
    def __init__(self, cluster: _Optional[str] = ..., provider: _Optional[_Union[_snapshot_pb2.JwtProvider, _Mapping]] = ...) -> None: ...

class ListJwtProvidersRequest(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    def __init__(self, cluster: _Optional[str] = ...) -> None: ...

class ListJwtProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[_snapshot_pb2.JwtProvider]
    def __init__(self, providers: _Optional[_Iterable[_Union[_snapshot_pb2.JwtProvider, _Mapping]]] = ...) -> None: ...

class DeleteJwtProviderRequest(_message.Message):
    __slots__ = ("cluster", "name")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    name: str
    def __init__(self, cluster: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteJwtProviderResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...
