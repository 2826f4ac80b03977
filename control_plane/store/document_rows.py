"""A cluster's rows as the document they make, and a document made into rows: what
``export`` reads and ``apply`` writes, inside the caller's transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.domain.config import GatewayConfig, SettingsSpec
from control_plane.domain.route import RouteSpec, keep_stored_secrets
from control_plane.domain.security import SecuritySpec, normalise_endpoint
from control_plane.domain.validation import read_stored
from control_plane.errors import InvalidInput, NotFound
from control_plane.store.database import EncodedJson
from control_plane.store.identity_sync import consumer_documents, resolved_identities
from control_plane.store.parsed_routes import IDS_PER_IN, ParsedRoute, canonical_json
from control_plane.store.records import ClusterState, Identities, RouteRecord, SecurityRecord
from control_plane.store.tables import ClusterRow, RouteRow, SecurityPolicyRow


def new_id() -> str:
    """32 random hex digits, like a UUID4's: opaque, and made a few times faster (an apply
    of 10,000 routes makes 10,000)."""
    return secrets.token_hex(16)


def route_record(row: RouteRow) -> RouteRecord:
    spec = read_stored(
        RouteSpec,
        {k: v for k, v in row.spec.items() if k != "position"},
        f"route '{row.name}'",
        f"replace it (PUT /api/v1/routes/{row.name}) or delete it",
    )
    return RouteRecord(
        row.id, row.cluster, row.name, row.position, spec, row.created_at, row.updated_at
    )


def security_record(row: SecurityPolicyRow) -> SecurityRecord:
    spec = read_stored(
        SecuritySpec,
        row.spec,
        f"the security policy of '{row.endpoint}'",
        f"replace it (PUT /api/v1/security{row.endpoint}) or delete it",
    )
    return SecurityRecord(row.id, row.cluster, spec, row.created_at, row.updated_at)


def kept_secrets(spec: RouteSpec, stored: RouteSpec | None, where: str = "") -> RouteSpec:
    try:
        return keep_stored_secrets(spec, stored, where)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="targets", unprocessable=True) from None


def desired_with_secrets(
    desired: GatewayConfig, current: GatewayConfig, identities: Identities
) -> GatewayConfig:
    """A document read back from export holds ``<redacted>`` for stored credentials: those
    keep the stored values of the same route (by name) and target, or JWT provider; keys
    written by their plaintext that are stored already are those keys."""
    stored = {r.effective_name: r for r in current.routes}
    routes = tuple(
        kept_secrets(r, stored.get(r.effective_name), f"routes[{i}].")
        for i, r in enumerate(desired.routes)
    )
    if routes != desired.routes:
        desired = desired.model_copy(update={"routes": routes})
    return resolved_identities(desired, identities)


def holds_what_is_given(stored: dict[str, Any], wanted: dict[str, Any], spec: RouteSpec) -> bool:
    """The stored route already is what a create asks for: every field the request gives
    is the same (one that leaves ``methods`` out does not ask for all methods; the product's
    ``POST /api/v1/routes {"path": "/predict", "target": ...}`` after its ``--method POST``)."""
    fields = type(spec).model_fields
    given = {fields[name].serialization_alias or name for name in spec.model_fields_set}
    return all(stored.get(key) == wanted.get(key) for key in given | {"name"})


def route_json(spec: RouteSpec, name: str) -> dict[str, Any]:
    return {**spec.model_dump(mode="json"), "name": name}


def check_consistent(state: ClusterState) -> None:
    """Nothing the snapshot holds may name what is not there (go-control-plane's
    ``Consistent()``): a policy naming a JWT provider that does not exist would refuse every
    token on its endpoint."""
    providers = {p.name for p in state.identities.jwt_providers}
    for index, record in enumerate(state.security):
        missing = [n for n in record.spec.jwt_providers if n not in providers]
        if missing:
            raise InvalidInput(
                f"security[{index}].jwtProviders: the policy of '{record.spec.endpoint}' names "
                f"JWT provider '{missing[0]}', which does not exist; create it first "
                "(PUT /api/v1/jwt-providers/{name}) or leave it out",
                field=f"security[{index}].jwtProviders",
                unprocessable=True,
            )


@dataclass(frozen=True, slots=True)
class WrittenRoute:
    id: str
    name: str
    position: int
    document: dict[str, Any]  # as stored: route_documents' without the position
    created_at: float
    canonical: EncodedJson  # the document as canonical JSON: what the row stores


async def sync_routes(
    session: AsyncSession,
    cluster: str,
    held: dict[str, ParsedRoute],
    wanted: dict[str, dict[str, Any]],
    now: float,
) -> list[WrittenRoute]:
    """Make the rows hold ``wanted`` (route_documents), given what they hold (by name); the
    routes added or changed. Bulk statements, not ORM objects: an apply of 10,000 routes
    loaded and flushed 10,000 of those for a second and more."""
    gone = [parsed.record.id for name, parsed in held.items() if name not in wanted]
    for start in range(0, len(gone), IDS_PER_IN):  # first: it frees the names
        chunk = gone[start : start + IDS_PER_IN]
        await session.execute(delete(RouteRow).where(RouteRow.id.in_(chunk)))
    added: list[WrittenRoute] = []
    changed: list[WrittenRoute] = []
    for name, document in wanted.items():
        position = document["position"]
        spec = {k: v for k, v in document.items() if k != "position"}
        existing = held.get(name)
        if existing is None:
            added.append(WrittenRoute(new_id(), name, position, spec, now, _encoded(spec)))
        elif existing.document != spec or existing.record.position != position:
            record = existing.record
            written = WrittenRoute(
                record.id, name, position, spec, record.created_at, _encoded(spec)
            )
            changed.append(written)
    if added:
        rows = [
            {"id": r.id, "cluster": cluster, "name": r.name, "position": r.position,
             "spec": r.canonical, "created_at": now, "updated_at": now}
            for r in added
        ]  # fmt: skip
        await session.execute(insert(RouteRow), rows)
    if changed:
        rows = [
            {"id": r.id, "position": r.position, "spec": r.canonical, "updated_at": now}
            for r in changed
        ]
        await session.execute(update(RouteRow), rows)
    return added + changed


def parsed_as_written(
    cluster: str, written: list[WrittenRoute], desired: GatewayConfig, now: float
) -> list[ParsedRoute]:
    """The rows an apply writes as ParsedRoutes holds them, from the specs it has parsed."""
    specs = {route.effective_name: route for route in desired.routes}
    parsed = []
    for route in written:
        record = RouteRecord(
            route.id, cluster, route.name, route.position, specs[route.name], route.created_at, now
        )
        parsed.append(ParsedRoute(now, record, str(route.canonical), route.document))
    return parsed


def _encoded(document: dict[str, Any]) -> EncodedJson:
    return EncodedJson(canonical_json(document))


async def sync_security(
    session: AsyncSession,
    cluster: str,
    policies: dict[str, SecurityPolicyRow],
    desired: GatewayConfig,
    now: float,
) -> None:
    wanted = {p.endpoint: p.model_dump(mode="json") for p in desired.security}
    for endpoint, row in policies.items():
        if endpoint not in wanted:
            await session.delete(row)
    for endpoint, document in wanted.items():
        current = policies.get(endpoint)
        if current is None:
            session.add(
                SecurityPolicyRow(
                    id=new_id(),
                    cluster=cluster,
                    endpoint=endpoint,
                    spec=document,
                    created_at=now,
                    updated_at=now,
                )
            )
        elif current.spec != document:
            current.spec, current.updated_at = document, now


def config_from_rows(
    cluster: ClusterRow,
    routes: list[RouteRecord],
    policies: list[SecurityPolicyRow],
    identities: Identities,
) -> GatewayConfig:
    """``routes`` in match order (ParsedRoutes.read)."""
    return config_of(
        ClusterState(
            name=cluster.name,
            revision=cluster.revision,
            routes=tuple(routes),
            security=tuple(security_record(p) for p in sorted(policies, key=lambda p: p.endpoint)),
            settings=dict(cluster.settings),
            callback=cluster.callback,
            identities=identities,
        )
    )


def config_of(state: ClusterState) -> GatewayConfig:
    """The stored cluster as the document that would recreate it (``export``)."""
    return GatewayConfig(
        cluster=state.name,
        routes=tuple(r.spec.model_copy(update={"name": r.name}) for r in state.routes),
        security=tuple(p.spec for p in state.security),
        callback=state.callback,
        settings=SettingsSpec.model_validate(state.settings),
        consumers=consumer_documents(state.identities),
        jwt_providers=state.identities.jwt_providers or None,
    )


async def find_route(session: AsyncSession, cluster: str, id_or_name: str) -> RouteRow:
    row = await session.scalar(
        select(RouteRow).where(
            RouteRow.cluster == cluster,
            (RouteRow.id == id_or_name) | (RouteRow.name == id_or_name),
        )
    )
    if row is None:
        raise NotFound(
            f"route '{id_or_name}' not found in cluster '{cluster}'; "
            "list routes with ai-gateway-cli routes list"
        )
    return row


async def find_security(session: AsyncSession, cluster: str, endpoint: str) -> SecurityPolicyRow:
    try:
        endpoint = normalise_endpoint(endpoint)
    except ValueError as exc:
        raise InvalidInput(f"endpoint: {exc}", field="endpoint") from None
    row = await session.scalar(
        select(SecurityPolicyRow).where(
            SecurityPolicyRow.cluster == cluster, SecurityPolicyRow.endpoint == endpoint
        )
    )
    if row is None:
        raise NotFound(f"no security policy for endpoint '{endpoint}' in cluster '{cluster}'")
    return row
