"""What applying a document would change: the answer of ``apply --dry-run`` and ``diff``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from control_plane.domain.config import GatewayConfig
from control_plane.domain.identity import JwtProviderSpec
from control_plane.domain.identity_documents import consumer_json
from control_plane.domain.route import REDACTED, redact_route

Action = Literal["create", "update", "delete"]
Kind = Literal["route", "security", "callback", "settings", "consumer", "jwtProvider"]


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    key: str  # route name, security endpoint, or the setting's name
    action: Action
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        document = {
            "kind": self.kind,
            "key": self.key,
            "action": self.action,
            "before": self.before,
            "after": self.after,
        }
        if self.action == "update":
            document["fields"] = changed_fields(self.before, self.after)
        return document


MAX_FIELDS = 50  # field lines per change; the rest is counted
MAX_VALUE = 80  # characters of a value in a field line


def changed_fields(before: Any, after: Any, where: str = "") -> list[str]:
    """What differs, a line per field: ``targets[1].weight: 1 -> 3``, ``rateLimit: 100/min ->
    (none)``. Objects are compared key by key, lists of equal length item by item."""
    lines: list[str] = []
    _compare(before, after, where, lines)
    if len(lines) > MAX_FIELDS:
        lines[MAX_FIELDS:] = [f"... and {len(lines) - MAX_FIELDS} more"]
    return lines


def _compare(before: Any, after: Any, where: str, lines: list[str]) -> None:
    if before == after or len(lines) > MAX_FIELDS:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            _compare(before.get(key), after.get(key), f"{where}.{key}" if where else key, lines)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            _compare(old, new, f"{where}[{index}]", lines)
    else:
        lines.append(f"{where or '(all)'}: {_shown(before)} -> {_shown(after)}")


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes], "summary": self.summary()}


def route_documents(config: GatewayConfig) -> dict[str, dict[str, Any]]:
    """Routes by name, each as stored: its spec with the name filled in and its position."""
    return {
        route.effective_name: {
            **route.model_dump(mode="json"),
            "name": route.effective_name,
            "position": index,
        }
        for index, route in enumerate(config.routes)
    }


def security_documents(config: GatewayConfig) -> dict[str, dict[str, Any]]:
    return {p.endpoint: p.model_dump(mode="json") for p in config.security}


def _diff_maps(kind: Kind, current: dict[str, Any], desired: dict[str, Any]) -> list[Change]:
    """Compared as stored, shown as the API shows them (stored credentials redacted)."""
    shown = redact_route if kind == "route" else _as_is
    changes = [
        Change(kind, key, "delete", before=shown(current[key]))
        for key in current
        if key not in desired
    ]
    for key, after in desired.items():
        before = current.get(key)
        if before is None:
            changes.append(Change(kind, key, "create", after=shown(after)))
        elif before != after:
            shown_after = shown(after)
            if kind == "route":
                shown_after = _credentials_changed(before, after, shown_after)
            changes.append(Change(kind, key, "update", before=shown(before), after=shown_after))
    return changes


def _credentials_changed(
    before: dict[str, Any], after: dict[str, Any], shown: dict[str, Any]
) -> dict[str, Any]:
    """A target credential that changes shows so (both sides are redacted, and a rollback
    that puts an old credential back must not look like nothing)."""
    held = {
        (t.get("url"), (t.get("auth") or {}).get("header", "").lower()): t["auth"].get("value")
        for t in before.get("targets") or ()
        if isinstance(t, dict) and t.get("auth")
    }
    for index, target in enumerate(after.get("targets") or ()):
        auth = target.get("auth") if isinstance(target, dict) else None
        if not auth:
            continue
        key = (target.get("url"), auth.get("header", "").lower())
        redacted = shown["targets"][index]["auth"]  # a copy, when it is redacted
        if key in held and held[key] != auth.get("value") and redacted.get("value") == REDACTED:
            redacted["value"] = "<redacted: changed>"
    return shown


def _as_is(document: dict[str, Any]) -> dict[str, Any]:
    return document


def _unnumbered(routes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: {k: v for k, v in route.items() if k != "position"} for name, route in routes.items()
    }


def _order_change(before: dict[str, Any], after: dict[str, Any]) -> Change | None:
    """The routes both sides have, in another order: one change. Positions that only move
    because a route before them came or went are not one (the order is the same)."""
    kept_before = [name for name in before if name in after]
    kept_after = [name for name in after if name in before]
    if kept_before == kept_after:
        return None
    return Change("route", "(match order)", "update", kept_before, kept_after)


def diff_config(
    current: GatewayConfig,
    desired: GatewayConfig,
    before: dict[str, dict[str, Any]] | None = None,
    after: dict[str, dict[str, Any]] | None = None,
) -> ConfigDiff:
    """``before``, ``after``: the sides' route_documents, when the caller has them."""
    before = route_documents(current) if before is None else before
    after = route_documents(desired) if after is None else after
    changes = _diff_maps("route", _unnumbered(before), _unnumbered(after))
    order = _order_change(before, after)
    if order is not None:
        changes.append(order)
    changes += _diff_maps("security", security_documents(current), security_documents(desired))
    if current.callback != desired.callback:
        action: Action = "update"
        if current.callback is None:
            action = "create"
        elif desired.callback is None:
            action = "delete"
        changes.append(Change("callback", "callback", action, current.callback, desired.callback))
    before_settings = current.settings.model_dump(mode="json")
    after_settings = desired.settings.model_dump(mode="json")
    if before_settings != after_settings:
        changes.append(Change("settings", "settings", "update", before_settings, after_settings))
    if desired.consumers is not None:  # left out of the document: not managed by it
        wanted = {c.name: consumer_json(c) for c in desired.consumers}
        held = {c.name: consumer_json(c) for c in current.consumers or ()}
        for name, consumer in held.items():  # keys left out of the document are kept
            if name in wanted and "keys" not in wanted[name]:
                consumer.pop("keys", None)
        changes += _diff_maps("consumer", held, wanted)
    if desired.jwt_providers is not None:
        stored = {p.name: p for p in current.jwt_providers or ()}
        changes += _diff_maps(
            "jwtProvider",
            {name: p.redacted() for name, p in stored.items()},
            {p.name: _provider_shown(p, stored.get(p.name)) for p in desired.jwt_providers},
        )
    return ConfigDiff(tuple(changes))


def _provider_shown(provider: JwtProviderSpec, stored: JwtProviderSpec | None) -> dict[str, Any]:
    """Never the secret; a new one shows as changed (it must not compare equal)."""
    document = provider.redacted()
    if provider.secret and (stored is None or stored.secret != provider.secret):
        document["secret"] = "<redacted: changed>"
    return document
