"""Watch pods and keep the cluster's discovered backends equal to the annotated, Ready ones.

The client is kubernetes_asyncio: maintained, on aiohttp like the rest of the control
plane, with in-cluster and kubeconfig loading, watch bookmarks and the Lease API. Pods
are read as plain JSON (``_preload_content=False``, ``Watch(return_type="object")``):
the gateway reads a few fields and checks each itself.

Per namespace (or all of them), the discovery lists the pods (in pages), then watches
from the list's resourceVersion with bookmarks; a watch that ends is resumed from the
last version seen, a ``410 Gone`` (or any watch error) lists again, and an API server
that fails is retried with backoff. Each change is written to the store within
``DEBOUNCE_SECONDS`` (several changes in that time make one revision); while the API
server cannot be reached nothing is written, so the last known backends keep serving.
Only the holder of the Lease (``leader_lease``) watches and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from control_plane.kubernetes.api_answers import describe, json_of
from control_plane.kubernetes.leader_lease import LeaderLease
from control_plane.kubernetes.pod_backends import DiscoveredBackend, PodRejected, backend_of
from control_plane.metrics import DISCOVERY_EVENTS, DISCOVERY_REJECTED

log = logging.getLogger("ai_gateway.control_plane.kubernetes")

DEBOUNCE_SECONDS = 0.05
WATCH_SECONDS = 240  # the API server ends each watch after this; it is resumed at once
PAGE = 500  # pods per list call
LIST_SECONDS = 60  # one page of the list, at most (a half-open connection is not waited on)
MAX_PODS = 50_000  # pods one discovery keeps; past it, pods are not read (and counted)
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
Publish = Callable[[list[DiscoveredBackend]], Awaitable[object]]


class PodDiscovery:
    def __init__(
        self,
        api: client.ApiClient,
        publish: Publish,
        namespaces: tuple[str, ...] = (),
        label_selector: str | None = None,
        lease: LeaderLease | None = None,
    ) -> None:
        """``publish``: stores the full list of discovered backends (each call replaces
        the last); ``namespaces`` empty: every namespace."""
        # Any: called with _preload_content=False, it answers raw responses, not its models.
        self._core: Any = client.CoreV1Api(api)
        self._publish = publish
        self._namespaces = namespaces
        self._selector = label_selector
        self._lease = lease
        self._pods: dict[str, dict[str, DiscoveredBackend]] = {}  # scope -> pod -> backend
        self._rejected: dict[str, str] = {}  # pod -> why, as last logged
        self._changed = asyncio.Event()
        self.synced = asyncio.Event()  # every scope listed once

    async def run(self) -> None:
        while True:
            if self._lease is not None:
                await self._lease.held.wait()
            scopes = self._namespaces or ("",)
            self._pods = {}
            self.synced.clear()
            tasks = [asyncio.create_task(self._follow(scope)) for scope in scopes]
            tasks.append(asyncio.create_task(self._publishing()))
            lost = asyncio.create_task(self._lease.lost()) if self._lease else None
            try:
                await asyncio.wait(
                    [*tasks, *filter(None, [lost])], return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in [*tasks, *filter(None, [lost])]:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            log.info("pod discovery paused: this control plane no longer holds the lease")

    async def _follow(self, scope: str) -> None:
        """List ``scope``'s pods, then watch them, for as long as the task runs."""
        delay = BACKOFF_FIRST
        while True:
            try:
                version = await self._list(scope)
                delay = BACKOFF_FIRST
                await self._watch(scope, version)
            except asyncio.CancelledError:
                raise
            except ApiException as exc:
                if exc.status != 410:  # 410: our version is too old; list again at once
                    log.warning("pods of %s: the API server answered %s", _name(scope), exc.status)
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, BACKOFF_MAX)
            except Exception as exc:  # a bad answer of any kind: retried with backoff
                log.warning("pods of %s not read: %s; retrying", _name(scope), describe(exc))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)

    async def _list(self, scope: str) -> str:
        """Every pod of ``scope`` (in pages), replacing what was known; its resourceVersion."""
        found: dict[str, DiscoveredBackend] = {}
        token: str | None = None
        version = ""
        read = 0
        while True:
            kwargs: dict[str, Any] = {
                "limit": PAGE,
                "_preload_content": False,
                "_request_timeout": aiohttp.ClientTimeout(total=LIST_SECONDS, sock_read=30),
            }
            if token:
                kwargs["_continue"] = token
            if self._selector:
                kwargs["label_selector"] = self._selector
            response = await (
                self._core.list_namespaced_pod(scope, **kwargs)
                if scope
                else self._core.list_pod_for_all_namespaces(**kwargs)
            )
            page = await json_of(response)
            if not isinstance(page, dict):
                raise ValueError("the pod list is not a JSON object")
            metadata = page.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or "")
            for pod in page.get("items") or []:
                read += 1
                if read > MAX_PODS:
                    DISCOVERY_REJECTED.labels("too_many_pods").inc()
                    break
                backend = self._backend(pod)
                if backend is not None:
                    found[backend.pod] = backend
            token = metadata.get("continue") or None
            if not token or read > MAX_PODS:
                break
        self._pods[scope] = found
        self._changed.set()
        if len(self._pods) == len(self._namespaces or ("",)):
            self.synced.set()
        return version

    async def _watch(self, scope: str, version: str) -> None:
        kwargs: dict[str, Any] = {
            "resource_version": version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": WATCH_SECONDS,
            "_request_timeout": aiohttp.ClientTimeout(total=WATCH_SECONDS + 30),
        }
        if self._selector:
            kwargs["label_selector"] = self._selector
        pods = self._pods[scope]
        while True:  # each watch ends after WATCH_SECONDS: resume from the last version
            stream = watch.Watch(return_type="object")
            async with stream:
                source = stream.stream(
                    self._core.list_namespaced_pod
                    if scope
                    else self._core.list_pod_for_all_namespaces,
                    *([scope] if scope else []),
                    **kwargs,
                )
                async for event in source:
                    if not isinstance(event, dict):
                        raise ValueError("a watch event that is not a JSON object")
                    kind = event.get("type")
                    DISCOVERY_EVENTS.labels(str(kind).lower()[:16]).inc()
                    pod = event.get("raw_object")
                    if kind == "BOOKMARK" or not isinstance(pod, dict):
                        continue
                    key = _key(pod)
                    backend = None if kind == "DELETED" else self._backend(pod)
                    if kind == "DELETED":
                        self._rejected.pop(key, None)
                    before = pods.get(key)
                    if backend is None:
                        pods.pop(key, None)
                    else:
                        pods[key] = backend
                    if before != backend:
                        self._changed.set()
            if stream.resource_version:
                kwargs["resource_version"] = stream.resource_version

    def _backend(self, pod: dict[str, Any]) -> DiscoveredBackend | None:
        key = _key(pod)
        try:
            backend = backend_of(pod)
        except PodRejected as exc:
            if self._rejected.get(key) != str(exc):
                self._rejected[key] = str(exc)
                DISCOVERY_REJECTED.labels("annotations").inc()
                log.warning("pod %s is not a backend: %s", key, exc)
            return None
        self._rejected.pop(key, None)
        return backend

    async def _publishing(self) -> None:
        """Write each change (after DEBOUNCE_SECONDS, so that a burst is one revision); a
        write that fails is tried again."""
        await self.synced.wait()  # a part of the pods is not all of them: wait for every scope
        while True:
            await self._changed.wait()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._changed.clear()
            backends = sorted(
                (b for pods in self._pods.values() for b in pods.values()), key=lambda b: b.pod
            )
            try:
                await self._publish(backends)
            except Exception as exc:
                log.warning("discovered backends not stored: %s; trying again", exc)
                await asyncio.sleep(1.0)
                self._changed.set()


def _key(pod: dict[str, Any]) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"[:320]


def _name(scope: str) -> str:
    return f"namespace {scope}" if scope else "every namespace"
