"""A document applied with select tags (``apply --select-tag team-a``, decK's
``select_tags``): it manages only the routes and policies that carry every one of the tags,
so that several teams apply their own files to one cluster without deleting each other's.

The document's routes and policies get the tags; the cluster's entities without them are
kept as they are, where they are (the document's routes take the places of the tagged ones,
in the document's order; new ones go last); settings and callback are the cluster's, and a
document that sets them otherwise is refused. A document naming a route or endpoint that exists
without the tags is refused too: it belongs to someone else.
"""

from __future__ import annotations

from control_plane.domain.config import GatewayConfig
from control_plane.domain.identity_documents import ConsumerDocument
from control_plane.domain.route import RouteSpec
from control_plane.domain.security import SecuritySpec
from control_plane.errors import Conflict, InvalidInput

Tagged = RouteSpec | SecuritySpec | ConsumerDocument


def carries(entity: Tagged, tags: tuple[str, ...]) -> bool:
    return set(tags) <= set(entity.tags)


def _tagged(entity: Tagged, tags: tuple[str, ...]) -> dict[str, object]:
    document = entity.model_dump(mode="json")
    document["tags"] = [*entity.tags, *(t for t in tags if t not in entity.tags)]
    return document


def whole_document(
    current: GatewayConfig, desired: GatewayConfig, tags: tuple[str, ...]
) -> GatewayConfig:
    """The cluster's whole document once ``desired`` is applied with ``tags``."""
    if desired.jwt_providers is not None:
        raise InvalidInput(
            "jwtProviders: a document applied with select tags manages its tagged routes, "
            "policies and consumers only; apply JWT providers without --select-tag",
            field="jwtProviders",
            unprocessable=True,
        )
    for field in ("settings", "callback"):
        if field in desired.model_fields_set and getattr(desired, field) != getattr(current, field):
            raise InvalidInput(
                f"{field}: a document applied with select tags manages its tagged routes and "
                f"policies only; apply {field} without --select-tag",
                field=field,
                unprocessable=True,
            )
    theirs = ", ".join(tags)
    _refuse_others(
        {r.effective_name for r in current.routes if not carries(r, tags)},
        [r.effective_name for r in desired.routes],
        "routes", f"a route of that name exists without the tags {theirs} (another "
        "document's); give yours another name",
    )  # fmt: skip
    _refuse_others(
        {p.endpoint for p in current.security if not carries(p, tags)},
        [p.endpoint for p in desired.security],
        "security", f"this endpoint's policy exists without the tags {theirs} (another "
        "document's)",
    )  # fmt: skip
    mine = [_tagged(r, tags) for r in desired.routes]
    routes: list[dict[str, object]] = []
    taken = 0
    for route in current.routes:
        if not carries(route, tags):
            routes.append(route.model_dump(mode="json"))
        elif taken < len(mine):  # a tagged route's place goes to the document's next one
            routes.append(mine[taken])
            taken += 1
    routes.extend(mine[taken:])
    policies = [p.model_dump(mode="json") for p in current.security if not carries(p, tags)]
    policies += [_tagged(p, tags) for p in desired.security]
    whole: dict[str, object] = {
        "cluster": desired.cluster,
        "routes": routes,
        "security": policies,
        "callback": current.callback,
        "settings": current.settings.model_dump(mode="json"),
    }
    if desired.consumers is not None:
        stored = current.consumers or ()
        _refuse_others(
            {c.name for c in stored if not carries(c, tags)},
            [c.name for c in desired.consumers],
            "consumers", f"a consumer of that name exists without the tags {theirs} (another "
            "document's)",
        )  # fmt: skip
        whole["consumers"] = [
            *(c.model_dump(mode="json") for c in stored if not carries(c, tags)),
            *(_tagged(c, tags) for c in desired.consumers),
        ]
    return GatewayConfig.model_validate(whole)


def _refuse_others(others: set[str], mine: list[str], field: str, why: str) -> None:
    """Conflict (409) for the first of ``mine`` that is one of ``others``."""
    for key in mine:
        if key in others:
            raise Conflict(f"{field}[{key}]: {why}", field=field)


def tagged_part(config: GatewayConfig, tags: tuple[str, ...]) -> dict[str, object]:
    """What ``export --select-tag`` writes: the tagged routes and policies only (applying it
    with the same tags changes nothing)."""
    document = config.model_dump(mode="json", exclude={"settings", "callback"})
    document["routes"] = [r.model_dump(mode="json") for r in config.routes if carries(r, tags)]
    document["security"] = [p.model_dump(mode="json") for p in config.security if carries(p, tags)]
    document.pop("jwt_providers", None)
    document.pop("jwtProviders", None)
    if config.consumers is not None:
        document["consumers"] = [
            c.model_dump(mode="json") for c in config.consumers if carries(c, tags)
        ]
    return document
