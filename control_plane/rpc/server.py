"""The gRPC server: ConfigDiscovery, Admin and the standard health service on one port."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from control_plane.rpc.admin import AdminRpcService
from control_plane.rpc.discovery import ConfigDiscoveryService
from control_plane.rpc.telemetry import TelemetryService
from protos import admin_pb2_grpc, telemetry_pb2_grpc
from protos import discovery_pb2 as dpb

MAX_MESSAGE_BYTES = 64 << 20
SERVICE_NAMES = ("aigw.v1.ConfigDiscovery", "aigw.v1.Admin", "aigw.v1.Telemetry")


def discovery_handler(discovery: ConfigDiscoveryService) -> grpc.GenericRpcHandler:
    """ConfigDiscovery as the generated code registers it, except that its responses are
    already encoded: one snapshot's bytes go to every stream instead of being encoded again
    per data plane (SnapshotCache.response_bytes)."""
    return grpc.method_handlers_generic_handler(
        "aigw.v1.ConfigDiscovery",
        {
            "StreamSnapshots": grpc.stream_stream_rpc_method_handler(
                discovery.StreamSnapshots,
                request_deserializer=dpb.DiscoveryRequest.FromString,
                response_serializer=bytes,
            )
        },
    )


async def start_grpc_server(
    address: str,
    discovery: ConfigDiscoveryService,
    admin: AdminRpcService,
    telemetry: TelemetryService,
    tls: tuple[bytes, bytes] | None = None,
    client_ca: bytes | None = None,
) -> tuple[grpc.aio.Server, int]:
    """``client_ca`` turns on mutual TLS: clients without a certificate from it are refused."""
    """Bind and start; returns the server and the port it got (for ``:0``)."""
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            # A complete telemetry report of a data plane with ~10,000 busy routes is ~2 MB.
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    server.add_generic_rpc_handlers((discovery_handler(discovery),))
    admin_pb2_grpc.add_AdminServicer_to_server(admin, server)
    telemetry_pb2_grpc.add_TelemetryServicer_to_server(telemetry, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if tls is not None:
        key, chain = tls
        credentials = grpc.ssl_server_credentials(
            [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port
