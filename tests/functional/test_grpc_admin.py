"""The gRPC Admin mirror: same operations, same validation, same key."""

from __future__ import annotations

import grpc
import httpx
import pytest

from protos import admin_pb2 as apb
from protos import admin_pb2_grpc
from protos import snapshot_pb2 as pb
from tests.support.control_plane import ControlPlaneProcess


def metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def test_route_and_security_round_trip(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    auth = metadata(control_plane.api_key)
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        route = pb.Route(
            path=pb.PathMatch(kind=pb.PathMatch.PREFIX, value="/predict"),
            methods=["POST"],
            targets=[
                pb.Target(url="http://ai-service:8080"),
                pb.Target(url="http://ai-2:8080", weight=3),
            ],
        )
        created = await admin.CreateRoute(
            apb.CreateRouteRequest(cluster=cluster, route=route), metadata=auth
        )
        assert created.name == "predict" and created.id
        assert [(t.url, t.weight) for t in created.targets] == [
            ("http://ai-service:8080", 1),
            ("http://ai-2:8080", 3),
        ]

        listed = await admin.ListRoutes(apb.ListRoutesRequest(cluster=cluster), metadata=auth)
        assert [r.id for r in listed.routes] == [created.id] and listed.revision == 1

        updated = await admin.UpdateRoute(
            apb.UpdateRouteRequest(
                cluster=cluster,
                id="predict",
                route=pb.Route(
                    path=pb.PathMatch(value="/predict"), targets=[pb.Target(url="http://ai-3:9000")]
                ),
            ),
            metadata=auth,
        )
        assert [t.url for t in updated.targets] == ["http://ai-3:9000"]

        policy = await admin.PutSecurityPolicy(
            apb.PutSecurityPolicyRequest(
                cluster=cluster,
                policy=pb.SecurityPolicy(
                    endpoint="predict",
                    auth=pb.SecurityPolicy.JWT,
                    rate_limit=pb.RateLimit(requests=100, period_seconds=60),
                    token_limit=pb.TokenLimit(tokens=50_000, period_seconds=60),
                    budget=pb.Budget(usd=25.0, per="week"),
                    cut_when_exceeded=True,
                ),
            ),
            metadata=auth,
        )
        assert policy.endpoint == "/predict" and policy.rate_limit.requests == 100
        assert policy.token_limit.tokens == 50_000 and policy.budget.usd == 25.0

        # The REST API sees what gRPC wrote.
        with control_plane.client() as http:
            rest = http.get("/api/v1/security", params={"cluster": cluster}).json()["security"]
        assert [(p["endpoint"], p["auth"], p["rateLimit"]) for p in rest] == [
            ("/predict", "jwt", "100/min")
        ]
        assert rest[0]["tokenLimit"] == "50000/min" and rest[0]["onExceeded"] == "cut"
        assert rest[0]["budget"] == {"usd": 25.0, "tokens": None, "per": "week", "warnAt": 0.8}

        deleted = await admin.DeleteRoute(
            apb.DeleteRouteRequest(cluster=cluster, id=created.id), metadata=auth
        )
        assert deleted.revision == 4


async def test_invalid_route_names_the_field(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        bad = pb.Route(path=pb.PathMatch(value="predict"), targets=[pb.Target(url="http://a")])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.CreateRoute(
                apb.CreateRouteRequest(cluster=cluster, route=bad),
                metadata=metadata(control_plane.api_key),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Invalid route path" in (caught.value.details() or "")
        assert ("field", "path") in tuple(caught.value.trailing_metadata() or ())
    with httpx.Client(
        base_url=control_plane.url, headers={"Authorization": f"Bearer {control_plane.api_key}"}
    ) as http:
        assert http.get("/api/v1/routes", params={"cluster": cluster}).json()["routes"] == []


@pytest.mark.parametrize("key", ["", "wrong"])
async def test_admin_needs_the_key(control_plane: ControlPlaneProcess, key: str) -> None:
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.ListRoutes(apb.ListRoutesRequest(), metadata=metadata(key) if key else None)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_not_found_and_conflict_codes(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    auth = metadata(control_plane.api_key)
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.GetRoute(apb.GetRouteRequest(cluster=cluster, id="nope"), metadata=auth)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        route = pb.Route(path=pb.PathMatch(value="/x"), targets=[pb.Target(url="http://a")])
        await admin.CreateRoute(apb.CreateRouteRequest(cluster=cluster, route=route), metadata=auth)
        again = await admin.CreateRoute(  # the same route again: unchanged, as over REST
            apb.CreateRouteRequest(cluster=cluster, route=route), metadata=auth
        )
        assert again.targets[0].url == "http://a"
        other = pb.Route(path=pb.PathMatch(value="/x"), targets=[pb.Target(url="http://b")])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.CreateRoute(
                apb.CreateRouteRequest(cluster=cluster, route=other), metadata=auth
            )
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_keys_and_jwt_providers_over_grpc(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    auth = metadata(control_plane.api_key)
    secret = "grpc-secret-" + "q" * 32
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        created = await admin.CreateApiKey(
            apb.CreateApiKeyRequest(
                cluster=cluster, consumer="team-g", expires_in="1d", routes=["chat"]
            ),
            metadata=auth,
        )
        assert created.plaintext.startswith("aigw_") and created.key.consumer == "team-g"
        assert created.key.expires_at_unix > 0 and list(created.key.routes) == ["chat"]
        listed = await admin.ListApiKeys(apb.ListApiKeysRequest(cluster=cluster), metadata=auth)
        assert [k.id for k in listed.keys] == [created.key.id]
        assert created.plaintext not in str(listed)

        provider = await admin.PutJwtProvider(
            apb.PutJwtProviderRequest(
                cluster=cluster,
                provider=pb.JwtProvider(
                    name="hs", algorithms=["HS256"], hmac_secret=secret.encode()
                ),
            ),
            metadata=auth,
        )
        assert provider.name == "hs" and provider.hmac_secret == b""
        providers = await admin.ListJwtProviders(
            apb.ListJwtProvidersRequest(cluster=cluster), metadata=auth
        )
        assert [p.name for p in providers.providers] == ["hs"] and secret not in str(providers)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.PutJwtProvider(
                apb.PutJwtProviderRequest(
                    cluster=cluster, provider=pb.JwtProvider(name="bad", algorithms=["none"])
                ),
                metadata=auth,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        await admin.RevokeApiKey(
            apb.RevokeApiKeyRequest(cluster=cluster, id=created.key.id), metadata=auth
        )
        await admin.DeleteJwtProvider(
            apb.DeleteJwtProviderRequest(cluster=cluster, name="hs"), metadata=auth
        )
        assert not (
            await admin.ListApiKeys(apb.ListApiKeysRequest(cluster=cluster), metadata=auth)
        ).keys


async def test_ai_route_fields_round_trip_and_credentials_stay_hidden(
    control_plane: ControlPlaneProcess, cluster: str
) -> None:
    auth = metadata(control_plane.api_key)
    secret = "sk-grpc-secret-0123456789"
    async with grpc.aio.insecure_channel(control_plane.grpc_target) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        route = pb.Route(
            name="grpc-llm",
            path=pb.PathMatch(kind=pb.PathMatch.EXACT, value="/v1/chat/completions"),
            models=["chat-large", "llama-3*"],
            targets=[
                pb.Target(
                    url="http://vllm:8000",
                    model="meta-llama/Llama-3.1-70B-Instruct",
                    auth=pb.TargetAuth(header="x-api-key", value=secret),
                )
            ],
        )
        created = await admin.CreateRoute(
            apb.CreateRouteRequest(cluster=cluster, route=route), metadata=auth
        )
        target = created.targets[0]
        assert list(created.models) == ["chat-large", "llama-3*"]
        assert target.model == "meta-llama/Llama-3.1-70B-Instruct"
        assert (target.auth.header, target.auth.value) == ("x-api-key", "<redacted>")
        # Sending the route back as read keeps the stored secret; it is never shown.
        updated = await admin.UpdateRoute(
            apb.UpdateRouteRequest(cluster=cluster, id="grpc-llm", route=created), metadata=auth
        )
        assert updated.targets[0].auth.value == "<redacted>"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.CreateRoute(
                apb.CreateRouteRequest(
                    cluster=cluster,
                    route=pb.Route(
                        name="grpc-llm-2",
                        path=pb.PathMatch(value="/x"),
                        targets=[
                            pb.Target(
                                url="http://a:1",
                                auth=pb.TargetAuth(header="x-api-key", value="<redacted>"),
                            )
                        ],
                    ),
                ),
                metadata=auth,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "no credential is stored" in (refused.value.details() or "")
    with httpx.Client(base_url=control_plane.url) as http:
        shown = http.get(
            "/api/v1/routes/grpc-llm",
            params={"cluster": cluster},
            headers={"Authorization": f"Bearer {control_plane.api_key}"},
        ).text
    assert secret not in shown and secret not in control_plane.logs()
