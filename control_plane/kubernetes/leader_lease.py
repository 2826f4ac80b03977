"""One control-plane replica at a time watches pods: the holder of a coordination.k8s.io
Lease, as client-go's leader election does it.

The holder renews the Lease every third of its duration; another replica takes it once it
has seen the same record, unrenewed, for a whole duration (by its own clock: replicas'
clocks need not agree). Every write carries the record's resourceVersion, so two replicas
taking an expired Lease at once cannot both win (one gets 409). A holder that cannot renew
within two thirds of the duration stops acting as holder before anyone else can start. On
shutdown the holder gives the Lease up (no holder) so that another takes it at once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from control_plane.kubernetes.api_answers import describe, json_of

log = logging.getLogger("ai_gateway.control_plane.kubernetes")


def _micro_time(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderLease:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        duration: float = 15.0,
    ) -> None:
        # Any: read with _preload_content=False and written as dicts, not as its models.
        self._leases: Any = client.CoordinationV1Api(api)
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._duration = duration
        self.held = asyncio.Event()
        self._released = asyncio.Event()
        self._observed: tuple[str, float] | None = None  # (record, when first seen unchanged)
        self._renewed_at = 0.0

    async def lost(self) -> None:
        """Return once this replica no longer holds the Lease."""
        while self.held.is_set():
            await self._released.wait()
            self._released.clear()

    async def run(self) -> None:
        period = self._duration / 3
        while True:
            try:
                await asyncio.wait_for(self._try(), timeout=period)
            except Exception as exc:  # whatever it is, the holder stops holding in time below
                log.warning(
                    "lease %s/%s not read or written: %s",
                    self._namespace,
                    self._name,
                    describe(exc),
                )
            if self.held.is_set() and time.monotonic() - self._renewed_at > self._duration * 2 / 3:
                self._lose("it could not be renewed in time")
            await asyncio.sleep(period)

    async def _try(self) -> None:
        try:
            response = await self._leases.read_namespaced_lease(
                self._name, self._namespace, _preload_content=False, _request_timeout=5
            )
            lease: dict[str, Any] = await json_of(response)
        except ApiException as exc:
            if exc.status != 404:
                raise
            await self._create()
            return
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = f"{holder}\x1f{spec.get('renewTime')}\x1f{spec.get('leaseDurationSeconds')}"
        now = time.monotonic()
        if self._observed is None or self._observed[0] != record:
            self._observed = (record, now)
        if holder == self.identity:
            await self._write(lease, spec, taking=False)
            return
        if self.held.is_set():
            self._lose(f"{holder or 'nobody'} holds it now")
        duration = float(spec.get("leaseDurationSeconds") or self._duration)
        if holder and now - self._observed[1] < duration:
            return  # held, and renewed within its duration
        await self._write(lease, spec, taking=True)

    async def _create(self) -> None:
        now = time.time()
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self._duration)),
                "acquireTime": _micro_time(now),
                "renewTime": _micro_time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            await self._leases.create_namespaced_lease(self._namespace, body, _request_timeout=5)
        except ApiException as exc:
            if exc.status == 409:  # another replica created it first
                return
            raise
        self._won()

    async def _write(self, lease: dict[str, Any], spec: dict[str, Any], taking: bool) -> None:
        now = time.time()
        spec = dict(spec)
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = max(1, round(self._duration))
        spec["renewTime"] = _micro_time(now)
        if taking:
            spec["acquireTime"] = _micro_time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        body = {**lease, "spec": spec}
        try:
            await self._leases.replace_namespaced_lease(
                self._name, self._namespace, body, _request_timeout=5
            )
        except ApiException as exc:
            if exc.status == 409:  # changed since it was read: someone else renewed or took it
                if self.held.is_set():
                    self._lose("another replica wrote it")
                return
            raise
        self._won()

    def _won(self) -> None:
        self._renewed_at = time.monotonic()
        if not self.held.is_set():
            log.info("lease %s/%s taken by %s", self._namespace, self._name, self.identity)
            self.held.set()

    def _lose(self, why: str) -> None:
        log.warning("lease %s/%s lost: %s", self._namespace, self._name, why)
        self.held.clear()
        self._released.set()

    async def release(self) -> None:
        """Give the Lease up, if held (at shutdown), so that another replica takes it now."""
        if not self.held.is_set():
            return
        self.held.clear()
        self._released.set()
        try:
            response = await self._leases.read_namespaced_lease(
                self._name, self._namespace, _preload_content=False, _request_timeout=2
            )
            lease: dict[str, Any] = await json_of(response)
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") != self.identity:
                return
            spec.update(
                holderIdentity=None, leaseDurationSeconds=1, renewTime=_micro_time(time.time())
            )
            await self._leases.replace_namespaced_lease(
                self._name, self._namespace, {**lease, "spec": spec}, _request_timeout=2
            )
            log.info("lease %s/%s released", self._namespace, self._name)
        except (ApiException, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.warning("lease %s/%s not released: %s", self._namespace, self._name, describe(exc))
