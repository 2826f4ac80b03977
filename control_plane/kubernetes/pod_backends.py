"""What an annotated pod asks of the gateway: the backend it becomes, read from its
annotations and status, every value checked (a pod's annotations are anyone's input).

A pod is a backend while it carries ``aimlops/gateway: "true"``, has an IP, is Ready
and is not being deleted. Its other annotations say how (each also spelled
``aimlops.io/...``):

- ``gateway-route``: join the route of that name; or ``gateway-path``: serve that path
  (pods with the same path and models share one discovered route). With neither, the
  pod serves ``/<app>`` (its ``app.kubernetes.io/name`` or ``app`` label, else its name)
  with the prefix stripped.
- ``gateway-port``: the port (default: its first container port).
- ``gateway-model``: the model names it serves, comma-separated (a discovered route then
  matches requests for them).
- ``gateway-weight``, ``gateway-priority``: as for any target.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from control_plane.domain.route import RouteSpec, TargetSpec

PREFIXES = ("aimlops/", "aimlops.io/")
KEYS = ("gateway", "gateway-route", "gateway-path", "gateway-port", "gateway-model",
        "gateway-weight", "gateway-priority")  # fmt: skip
MAX_ANNOTATION = 1024  # characters of one annotation value the gateway reads
_SLUG = re.compile(r"[^a-z0-9]+")


class PodRejected(ValueError):
    """An annotated pod whose annotations cannot make a backend: the message names the
    annotation and what to write instead."""


@dataclass(frozen=True, slots=True)
class DiscoveredBackend:
    pod: str  # namespace/name
    url: str
    route: str | None  # the route it joins, or
    path: str | None  # the path of the discovered route it serves
    strip_prefix: bool
    models: tuple[str, ...]
    weight: int
    priority: int

    def to_json(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "url": self.url,
            "route": self.route,
            "path": self.path,
            "stripPrefix": self.strip_prefix,
            "models": list(self.models),
            "weight": self.weight,
            "priority": self.priority,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DiscoveredBackend:
        return cls(
            pod=str(data["pod"]),
            url=str(data["url"]),
            route=data.get("route"),
            path=data.get("path"),
            strip_prefix=bool(data.get("stripPrefix")),
            models=tuple(data.get("models") or ()),
            weight=int(data.get("weight", 1)),
            priority=int(data.get("priority", 0)),
        )

    @property
    def route_name(self) -> str:
        """The route it is a target of: the one it joins, or its discovered route's name
        (``k8s-`` and the path, with a hash of path and models when that is not enough)."""
        if self.route is not None:
            return self.route
        assert self.path is not None
        slug = _SLUG.sub("-", self.path.lower()).strip("-") or "root"
        name = f"k8s-{slug}"
        if self.models or len(name) > 50:
            digest = hashlib.sha256(f"{self.path}\x1f{','.join(self.models)}".encode())
            name = f"{name[:50]}-{digest.hexdigest()[:8]}"
        return name


def annotations_of(pod: dict[str, Any]) -> dict[str, str]:
    """The pod's gateway annotations by key (``gateway-port``...), either spelling."""
    found: dict[str, str] = {}
    raw = (pod.get("metadata") or {}).get("annotations") or {}
    if not isinstance(raw, dict):
        return found
    for prefix in PREFIXES:
        for key in KEYS:
            value = raw.get(prefix + key)
            if isinstance(value, str) and key not in found:
                found[key] = value
    return found


def backend_of(pod: dict[str, Any]) -> DiscoveredBackend | None:
    """The backend ``pod`` is now (None: not one, or not now); PodRejected when it is
    annotated but its annotations cannot make one."""
    annotations = annotations_of(pod)
    if annotations.get("gateway", "").strip().lower() != "true":
        return None
    metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
    if metadata.get("deletionTimestamp") or not _ready(status):
        return None
    address = status.get("podIP")
    if not isinstance(address, str) or not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise PodRejected(f"status.podIP {address[:64]!r} is not an IP address") from None
    for key, value in annotations.items():
        if len(value) > MAX_ANNOTATION:
            raise PodRejected(f"{PREFIXES[0]}{key}: keep it under {MAX_ANNOTATION} characters")
    name = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    port = _port(annotations.get("gateway-port"), pod)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    weight = _number(annotations, "gateway-weight", 1)
    priority = _number(annotations, "gateway-priority", 0)
    try:
        target = TargetSpec(url=f"http://{host}:{port}", weight=weight, priority=priority)
    except ValidationError as exc:
        raise PodRejected(_first_error(exc, "gateway-weight or gateway-priority")) from None
    models = tuple(m.strip() for m in annotations.get("gateway-model", "").split(",") if m.strip())
    route = annotations.get("gateway-route", "").strip() or None
    path = annotations.get("gateway-path", "").strip() or None
    if route is not None and path is not None:
        raise PodRejected(
            f"{PREFIXES[0]}gateway-route and {PREFIXES[0]}gateway-path: give one (join a route "
            "by name, or serve a path)"
        )
    strip = False
    if route is None and path is None:
        labels = metadata.get("labels") or {}
        app = labels.get("app.kubernetes.io/name") or labels.get("app") or metadata.get("name")
        path, strip = f"/{_SLUG.sub('-', str(app).lower()).strip('-')[:63]}", True
    try:  # the route it would make, checked as if a user had written it
        RouteSpec(name=route or "discovered", path=path or "/", targets=(target,), models=models)
    except ValidationError as exc:
        raise PodRejected(_first_error(exc, "its annotations")) from None
    return DiscoveredBackend(name, target.url, route, None if route else path, strip, models,
                             target.weight, target.priority)  # fmt: skip


def _ready(status: dict[str, Any]) -> bool:
    conditions = status.get("conditions") or []
    return isinstance(conditions, list) and any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )


def _port(annotation: str | None, pod: dict[str, Any]) -> int:
    if annotation is not None:
        if not _digits(annotation) or not 0 < int(annotation) < 65_536:
            raise PodRejected(
                f"{PREFIXES[0]}gateway-port {annotation[:32]!r}: give a port from 1 to 65535"
            )
        return int(annotation)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in (container or {}).get("ports") or []:
            number = (port or {}).get("containerPort")
            if isinstance(number, int) and 0 < number < 65_536:
                return number
    raise PodRejected(
        f"the pod declares no container port: set {PREFIXES[0]}gateway-port to the port it serves"
    )


def _number(annotations: dict[str, str], key: str, default: int) -> int:
    text = annotations.get(key)
    if text is None:
        return default
    if not _digits(text):
        raise PodRejected(f"{PREFIXES[0]}{key} {text[:32]!r}: give a whole number")
    return int(text)


def _digits(text: str) -> bool:
    text = text.strip()
    return text.isascii() and text.isdigit() and len(text) <= 9


_ANNOTATION_OF = {"name": "gateway-route", "path": "gateway-path", "models": "gateway-model",
                  "weight": "gateway-weight", "priority": "gateway-priority"}  # fmt: skip


def _first_error(exc: ValidationError, where: str) -> str:
    error = exc.errors()[0]
    fields = [str(p) for p in error["loc"]]
    key = next((_ANNOTATION_OF[f] for f in fields if f in _ANNOTATION_OF), None)
    field = f"{PREFIXES[0]}{key}" if key else where
    return f"{field}: {error['msg'].removeprefix('Value error, ')}"
