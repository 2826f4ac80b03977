"""Deliver the outbox's events to each cluster's ``callback`` URL.

POST of the event's JSON envelope ``{"id", "type", "cluster", "time", "data"}``
with ``X-AI-Gateway-Event`` and ``X-AI-Gateway-Delivery`` headers and, with a
secret, ``X-AI-Gateway-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``
(the scheme Stripe uses: the time in the signature lets a receiver refuse
replays); any 2xx is taken. Otherwise the event is tried again after 1 s, 2 s, 4 s ... (capped at
5 min, with jitter) and given up after ``max_attempts`` (about an hour in all
by default). The outbox is in SQL, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time

import aiohttp

from control_plane import __version__
from control_plane.metrics import STORE_ERRORS, WEBHOOK_DELIVERIES, WEBHOOK_ERRORS
from control_plane.store.records import WebhookRecord
from control_plane.store.webhook_outbox import WebhookOutbox

log = logging.getLogger("ai_gateway.control_plane.webhooks")

RETENTION_SECONDS = 7 * 24 * 3600.0  # delivered and given-up events are kept this long


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookDispatcher:
    def __init__(
        self,
        outbox: WebhookOutbox,
        *,
        poll: float = 0.5,
        timeout: float = 5.0,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        max_attempts: int = 18,
        secret: str | None = None,
    ) -> None:
        self._secret = secret.encode() if secret else None
        self._outbox = outbox
        self._poll = poll
        self._timeout = timeout
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_attempts = max_attempts
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones."""
        ceiling = min(self._max_delay, self._base_delay * 2.0 ** (attempts - 1))
        return ceiling * random.uniform(0.8, 1.0)  # jitter, not secrecy

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        headers = {"User-Agent": f"ai-gateway/{__version__}"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            while True:
                try:
                    events = await self._outbox.claim_due()
                    if events:
                        await asyncio.gather(*(self._deliver(session, e) for e in events))
                    await self._prune()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a database hiccup: the events wait in the outbox
                    STORE_ERRORS.labels("webhooks").inc()
                    log.warning("webhook outbox unavailable: %s", exc)
                await asyncio.sleep(self._poll)

    async def _deliver(self, session: aiohttp.ClientSession, event: WebhookRecord) -> None:
        body = json.dumps(event.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-AI-Gateway-Event": event.event_type,
            "X-AI-Gateway-Delivery": event.id,
        }
        if self._secret is not None:
            headers["X-AI-Gateway-Signature"] = sign(self._secret, body, int(time.time()))
        try:
            async with session.post(event.url, data=body, headers=headers) as response:
                status = response.status
            if 200 <= status < 300:
                await self._outbox.delivered(event.id)
                WEBHOOK_DELIVERIES.labels("delivered").inc()
                log.debug("webhook %s %s delivered to %s", event.event_type, event.id, event.url)
                return
            error = f"HTTP {status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        WEBHOOK_ERRORS.inc()
        attempts = event.attempts + 1
        if attempts >= self._max_attempts:
            WEBHOOK_DELIVERIES.labels("gave_up").inc()
            log.error(
                "webhook %s %s to %s given up after %d attempts: %s",
                event.event_type, event.id, event.url, attempts, error,
            )  # fmt: skip
            await self._outbox.attempt_failed(event.id, error, None)
            return
        WEBHOOK_DELIVERIES.labels("retry").inc()
        delay = self.retry_delay(attempts)
        log.warning(
            "webhook %s to %s failed (%s); try %d in %.1fs",
            event.event_type, event.url, error, attempts + 1, delay,
        )  # fmt: skip
        await self._outbox.attempt_failed(event.id, error, time.time() + delay)

    async def _prune(self) -> None:
        now = time.time()
        if now - self._pruned_at > 600:
            self._pruned_at = now
            await self._outbox.prune(now - RETENTION_SECONDS)
