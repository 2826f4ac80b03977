"""A Kubernetes API server emulator on a real socket, for the discovery tests: pods (list
in pages, watch with resourceVersion, chunked events, bookmarks, 410 Gone for a version
it no longer has) and coordination.k8s.io Leases (with resourceVersion conflicts).

It runs its own event loop in a thread; the test changes pods through thread-safe calls
and can take the server away (``stop``) and bring it back on the same port (``start``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def pod(
    name: str,
    port: int,
    namespace: str = "models",
    ready: bool = True,
    ip: str = "127.0.0.1",
    labels: dict[str, str] | None = None,
    **annotations: str,
) -> dict[str, Any]:
    """A pod as the API server shows it; ``annotations`` as keyword arguments, ``gateway``
    for ``aimlops/gateway`` and so on (underscores for dashes)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {},
            "annotations": {f"aimlops/{k.replace('_', '-')}": v for k, v in annotations.items()},
        },
        "spec": {"containers": [{"name": "model", "ports": [{"containerPort": port}]}]},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
            "reason": reason, "message": message}  # fmt: skip


class KubeApi:
    def __init__(self) -> None:
        self.port = 0
        self._version = 100
        self._pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._events: list[tuple[int, str, dict[str, Any]]] = []  # (version, type, pod)
        self._oldest = 0  # watches from before this version get 410 Gone
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []  # method and path with query, in order
        self.sent: dict[str, float] = {}  # pod name -> when its last event went to a watch
        self._changed: asyncio.Condition | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._watches: set[web.StreamResponse] = set()

    # -- the test's side ------------------------------------------------------

    def start(self) -> KubeApi:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """The API server goes away: its socket closes, its watches end."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def put(self, body: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self._put(copy.deepcopy(body)), self._loop).result(5)

    def delete(self, name: str, namespace: str = "models") -> None:
        asyncio.run_coroutine_threadsafe(self._delete(namespace, name), self._loop).result(5)

    def compact(self) -> None:
        """Forget every event so far: watches from an older version get 410 Gone."""
        asyncio.run_coroutine_threadsafe(self._compact(), self._loop).result(5)

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "emu", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}
                    ],
                    "users": [{"name": "emu", "user": {"token": "emulator-token"}}],
                    "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu"}}],
                    "current-context": "emu",
                }
            )
        )
        return path

    # -- the server -------------------------------------------------------------

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/api/v1/pods", self._pods_handler)
        app.router.add_get("/api/v1/namespaces/{namespace}/pods", self._pods_handler)
        app.router.add_get(LEASES + "/{name}", self._get_lease)
        app.router.add_post(LEASES, self._create_lease)
        app.router.add_put(LEASES + "/{name}", self._replace_lease)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        await web.SockSite(self._runner, sock).start()
        self.port = sock.getsockname()[1]

    async def _stop(self) -> None:
        for response in list(self._watches):
            if response.task is not None:
                response.task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _put(self, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        kind = "MODIFIED" if key in self._pods else "ADDED"
        await self._record(kind, key, body)

    async def _delete(self, namespace: str, name: str) -> None:
        body = self._pods.get((namespace, name))
        if body is not None:
            await self._record("DELETED", (namespace, name), body)

    async def _record(self, kind: str, key: tuple[str, str], body: dict[str, Any]) -> None:
        self._version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self._version)
        if kind == "DELETED":
            self._pods.pop(key, None)
        else:
            self._pods[key] = body
        self._events.append((self._version, kind, body))
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _compact(self) -> None:
        self._oldest = self._version + 1
        self._events.clear()
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _selected(self, request: web.Request, body: dict[str, Any]) -> bool:
        namespace = request.match_info.get("namespace")
        if namespace and body["metadata"]["namespace"] != namespace:
            return False
        selector = request.query.get("labelSelector")
        labels = body["metadata"].get("labels") or {}
        for term in filter(None, (selector or "").split(",")):
            name, _, value = term.partition("=")
            if labels.get(name) != value:
                return False
        return True

    async def _pods_handler(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"GET {request.path_qs}")
        if request.query.get("watch") in ("true", "True", "1"):
            return await self._watch(request)
        items = [p for _, p in sorted(self._pods.items()) if self._selected(request, p)]
        limit = int(request.query.get("limit", "0") or 0)
        start = int(request.query.get("continue", "0") or 0)
        page = items[start : start + limit] if limit else items[start:]
        more = bool(limit) and start + limit < len(items)
        metadata: dict[str, Any] = {"resourceVersion": str(self._version)}
        if more:
            metadata["continue"] = str(start + limit)
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": metadata,
                                  "items": page})  # fmt: skip

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or self._version)
        timeout = float(request.query.get("timeoutSeconds") or 300)
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "True", "1")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        self._watches.add(response)
        try:
            if since < self._oldest - 1:
                gone = _status(410, "Expired", f"too old resource version: {since}")
                await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                return response
            ends = time.monotonic() + timeout
            assert self._changed is not None
            oldest = self._oldest
            while time.monotonic() < ends:
                if self._oldest != oldest:  # compacted meanwhile: this watch is too old now
                    gone = _status(410, "Expired", "too old resource version")
                    await response.write(
                        json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n"
                    )
                    return response
                for version, kind, body in list(self._events):
                    if version > since and self._selected(request, body):
                        event = {"type": kind, "object": body}
                        await response.write(json.dumps(event).encode() + b"\n")
                        self.sent[body["metadata"]["name"]] = time.monotonic()
                    since = max(since, version)
                if self._events and self._events[-1][0] > since:
                    continue  # recorded while this watch was writing: send it first
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait(), 0.5)
                    except TimeoutError:
                        if bookmarks:  # nothing new: the version this watch has reached
                            mark = {"kind": "Pod", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(since)}}  # fmt: skip
                            await response.write(
                                json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n"
                            )
            return response
        finally:
            self._watches.discard(response)

    async def _get_lease(self, request: web.Request) -> web.Response:
        self.requests.append(f"GET {request.path_qs}")
        lease = self.leases.get((request.match_info["namespace"], request.match_info["name"]))
        if lease is None:
            return web.json_response(_status(404, "NotFound", "leases not found"), status=404)
        return web.json_response(lease)

    async def _create_lease(self, request: web.Request) -> web.Response:
        self.requests.append(f"POST {request.path_qs}")
        body = await request.json()
        key = (request.match_info["namespace"], body["metadata"]["name"])
        if key in self.leases:
            return web.json_response(_status(409, "AlreadyExists", "exists"), status=409)
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        self.leases[key] = body
        return web.json_response(body, status=201)

    async def _replace_lease(self, request: web.Request) -> web.Response:
        self.requests.append(f"PUT {request.path_qs}")
        body = await request.json()
        key = (request.match_info["namespace"], request.match_info["name"])
        current = self.leases.get(key)
        if current is None:
            return web.json_response(_status(404, "NotFound", "leases not found"), status=404)
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            return web.json_response(_status(409, "Conflict", "the object has been modified"),
                                     status=409)  # fmt: skip
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        self.leases[key] = body
        return web.json_response(body)


@contextmanager
def kube_api() -> Iterator[KubeApi]:
    api = KubeApi().start()
    try:
        yield api
    finally:
        api.close()
