"""gRPC Admin: the REST operations, over gRPC, with the same validation and errors."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from control_plane.admin_service import AdminService
from control_plane.domain.identity import JwtProviderSpec
from control_plane.errors import ControlPlaneError
from control_plane.proto_mapping import (
    jwt_provider_from_proto,
    jwt_provider_to_proto,
    route_from_proto,
    route_to_proto,
    security_from_proto,
    security_to_proto,
)
from control_plane.rpc.dataplane_access import peer_address
from control_plane.store.records import ApiKeyRecord
from control_plane.store.revision_history import ChangeAuthor, authored_by, credential_name
from data_plane.security.auth_throttle import FailureThrottle
from protos import admin_pb2 as apb
from protos import admin_pb2_grpc
from protos import snapshot_pb2 as pb

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)
Method = Callable[["AdminRpcService", RequestT, grpc.aio.ServicerContext], Awaitable[ResponseT]]

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
}


def admin_call(method: Method[RequestT, ResponseT]) -> Method[RequestT, ResponseT]:
    """Check the admin key, then translate our errors to gRPC status codes."""

    @functools.wraps(method)
    async def wrapper(
        self: AdminRpcService, request: RequestT, context: grpc.aio.ServicerContext
    ) -> ResponseT:
        peer = peer_address(context.peer() or "")
        wait = self._throttle.retry_after(peer)
        if wait is not None:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many wrong admin API keys from {peer}; retry after {wait}s",
            )
        metadata = dict(context.invocation_metadata() or ())
        scheme, _, token = str(metadata.get("authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        ):
            if token:
                self._throttle.failed(peer)
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong admin API key: send metadata 'authorization: Bearer <key>'",
            )
        try:
            with authored_by(ChangeAuthor(credential_name(self._api_key), peer)):
                return await method(self, request, context)
        except ControlPlaneError as exc:
            if exc.field:
                context.set_trailing_metadata((("field", exc.field),))
            await context.abort(_CODES.get(exc.http_status, grpc.StatusCode.INTERNAL), exc.message)
            raise  # unreachable: abort raises

    return wrapper


class AdminRpcService(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(
        self, service: AdminService, api_key: str, auth_failures_per_minute: int = 10
    ) -> None:
        self._service = service
        self._api_key = api_key
        self._throttle = FailureThrottle(auth_failures_per_minute, 60.0)

    @staticmethod
    def _route(record: Any) -> pb.Route:
        return route_to_proto(record.spec, route_id=record.id, name=record.name)

    @admin_call
    async def CreateRoute(self, request: apb.CreateRouteRequest, context: Any) -> pb.Route:
        record, _, _ = await self._service.create_route(
            request.cluster, route_from_proto(request.route)
        )
        return self._route(record)

    @admin_call
    async def ListRoutes(
        self, request: apb.ListRoutesRequest, context: Any
    ) -> apb.ListRoutesResponse:
        records = await self._service.list_routes(request.cluster)
        revision = await self._service.store.revision(self._service.cluster(request.cluster))
        return apb.ListRoutesResponse(routes=[self._route(r) for r in records], revision=revision)

    @admin_call
    async def GetRoute(self, request: apb.GetRouteRequest, context: Any) -> pb.Route:
        return self._route(await self._service.get_route(request.cluster, request.id))

    @admin_call
    async def UpdateRoute(self, request: apb.UpdateRouteRequest, context: Any) -> pb.Route:
        record, _ = await self._service.update_route(
            request.cluster, request.id, route_from_proto(request.route)
        )
        return self._route(record)

    @admin_call
    async def DeleteRoute(
        self, request: apb.DeleteRouteRequest, context: Any
    ) -> apb.DeleteRouteResponse:
        revision = await self._service.delete_route(request.cluster, request.id)
        return apb.DeleteRouteResponse(revision=revision)

    @admin_call
    async def PutSecurityPolicy(
        self, request: apb.PutSecurityPolicyRequest, context: Any
    ) -> pb.SecurityPolicy:
        document = security_from_proto(request.policy)
        endpoint = document.pop("endpoint")
        record, _, _ = await self._service.put_security(request.cluster, endpoint, document)
        return security_to_proto(record.spec, policy_id=record.id)

    @admin_call
    async def ListSecurityPolicies(
        self, request: apb.ListSecurityPoliciesRequest, context: Any
    ) -> apb.ListSecurityPoliciesResponse:
        records = await self._service.list_security(request.cluster)
        return apb.ListSecurityPoliciesResponse(
            policies=[security_to_proto(r.spec, policy_id=r.id) for r in records]
        )

    @admin_call
    async def DeleteSecurityPolicy(
        self, request: apb.DeleteSecurityPolicyRequest, context: Any
    ) -> apb.DeleteSecurityPolicyResponse:
        revision = await self._service.delete_security(request.cluster, request.endpoint)
        return apb.DeleteSecurityPolicyResponse(revision=revision)

    @admin_call
    async def ListDataPlanes(
        self, request: apb.ListDataPlanesRequest, context: Any
    ) -> apb.ListDataPlanesResponse:
        records = await self._service.list_dataplanes(request.cluster or None)
        return apb.ListDataPlanesResponse(
            dataplanes=[
                apb.DataPlaneStatus(
                    node_id=r.node_id,
                    cluster=r.cluster,
                    applied_version=r.applied_version,
                    software_version=r.software_version,
                    hostname=r.hostname,
                    last_seen_unix=r.last_seen,
                    last_nack=r.last_nack,
                    connected=r.connected,
                )
                for r in records
            ]
        )

    @admin_call
    async def CreateApiKey(
        self, request: apb.CreateApiKeyRequest, context: Any
    ) -> apb.CreateApiKeyResponse:
        document: dict[str, Any] = {"routes": list(request.routes)}
        if request.expires_in:
            document["expiresIn"] = request.expires_in
        record, plaintext, _ = await self._service.create_key(
            request.cluster, request.consumer, document
        )
        return apb.CreateApiKeyResponse(key=_key_info(record), plaintext=plaintext)

    @admin_call
    async def ListApiKeys(
        self, request: apb.ListApiKeysRequest, context: Any
    ) -> apb.ListApiKeysResponse:
        return apb.ListApiKeysResponse(
            keys=[_key_info(k) for k in await self._service.list_keys(request.cluster)]
        )

    @admin_call
    async def RevokeApiKey(
        self, request: apb.RevokeApiKeyRequest, context: Any
    ) -> apb.RevokeApiKeyResponse:
        return apb.RevokeApiKeyResponse(
            revision=await self._service.revoke_key(request.cluster, request.id)
        )

    @admin_call
    async def PutJwtProvider(
        self, request: apb.PutJwtProviderRequest, context: Any
    ) -> pb.JwtProvider:
        document = jwt_provider_from_proto(request.provider)
        spec, _, _ = await self._service.put_jwt_provider(
            request.cluster, document.pop("name"), document
        )
        return _redacted(spec)

    @admin_call
    async def ListJwtProviders(
        self, request: apb.ListJwtProvidersRequest, context: Any
    ) -> apb.ListJwtProvidersResponse:
        providers = await self._service.list_jwt_providers(request.cluster)
        return apb.ListJwtProvidersResponse(providers=[_redacted(p) for p in providers])

    @admin_call
    async def DeleteJwtProvider(
        self, request: apb.DeleteJwtProviderRequest, context: Any
    ) -> apb.DeleteJwtProviderResponse:
        revision = await self._service.delete_jwt_provider(request.cluster, request.name)
        return apb.DeleteJwtProviderResponse(revision=revision)


def _key_info(record: ApiKeyRecord) -> apb.ApiKeyInfo:
    return apb.ApiKeyInfo(
        id=record.id,
        consumer=record.consumer,
        prefix=record.prefix,
        expires_at_unix=record.expires_at or 0.0,
        routes=list(record.routes),
        created_at_unix=record.created_at,
    )


def _redacted(spec: JwtProviderSpec) -> pb.JwtProvider:
    provider = jwt_provider_to_proto(spec)
    provider.hmac_secret = b""
    return provider
