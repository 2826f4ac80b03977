"""What applying a document would change: the answer of ``apply --dry-run`` and ``diff``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from control_plane.domain.config import GatewayConfig
from control_plane.domain.route import redact_route

Action = Literal["create", "update", "delete"]
Kind = Literal["route", "security", "callback", "settings"]


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    key: str  # route name, security endpoint, or the setting's name
    action: Action
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "action": self.action,
            "before": self.before,
            "after": self.after,
        }


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
            changes.append(Change(kind, key, "update", before=shown(before), after=shown(after)))
    return changes


def _as_is(document: dict[str, Any]) -> dict[str, Any]:
    return document


def diff_config(current: GatewayConfig, desired: GatewayConfig) -> ConfigDiff:
    changes = _diff_maps("route", route_documents(current), route_documents(desired))
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
    return ConfigDiff(tuple(changes))
