"""The limiters' Lua scripts on Redis, over one pipelined connection per process.

Written by hand rather than through redis-py's asyncio client: on the request
path that client cost about 120 us of CPU per command here (a pool checkout, a
``wait_for`` around each read, its observability hooks), against about 35 us
for one write and one future on a connection that pipelines every request's
command (``bench/PROFILE.md``). The protocol is RESP2 and the replies are
parsed by hiredis (C). Only what the limiters need: ``EVALSHA`` (loading the
script on ``NOSCRIPT``), ``AUTH`` and ``SELECT`` from the URL, TLS for
``rediss://``.

Bounded: at most MAX_PENDING commands wait for replies; past it a call fails
at once (the limiter then falls back, as for any Redis failure). A lost
connection fails every waiting call and the next call connects again. Callers
bound each call with their own timeout; a reply that comes after it is read
and dropped, so replies stay in order.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

import hiredis

MAX_PENDING = 10_000
STALLED_SECONDS = 2.0  # the oldest call unanswered this long: the connection is given up
log = logging.getLogger("ai_gateway.data_plane.redis")


class RedisFailure(Exception):
    """Redis could not answer: not connected, too many calls waiting, or an error reply."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        # Each waiting call's future and when it was sent (the loop's clock).
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:  # not Redis: drop the connection
                self.drop(f"protocol error: {exc}")
                return
            if reply is False:
                return
            if not self.waiting:
                continue  # nothing asked for it (cannot happen with a well-behaved server)
            future, _ = self.waiting.popleft()
            if not future.done():  # its caller may have timed out
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(RedisFailure(f"connection lost: {exc!r}" if exc else "connection closed"))

    def drop(self, why: str) -> None:
        """Give the connection up: its calls fail now, the next call connects again."""
        self.lost = True
        self._fail(RedisFailure(why))
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: RedisFailure) -> None:
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.transport is None or self.lost:
            raise RedisFailure("not connected")
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.waiting and now - self.waiting[0][1] > STALLED_SECONDS:
            # The oldest call has waited far past any caller's timeout: the server or the
            # path to it stopped answering (TCP may take minutes to say so). Start over.
            self.drop(f"Redis has not answered for {STALLED_SECONDS:g}s")
            raise RedisFailure("Redis stopped answering; reconnecting")
        if len(self.waiting) >= MAX_PENDING:
            raise RedisFailure(f"{MAX_PENDING} commands already wait for Redis")
        future = loop.create_future()
        self.waiting.append((future, now))
        self.transport.write(command)
        return future


Arg = bytes | str | int


def pack(*args: Arg) -> bytes:
    """One RESP command."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RedisScripts:
    """Runs Lua scripts on one Redis, pipelined over one connection."""

    def __init__(self, url: str, connect_timeout: float = 0.25) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"{url!r} is not a redis:// or rediss:// URL")
        self._host = parts.hostname
        self._port = parts.port or 6379
        self._tls = ssl.create_default_context() if parts.scheme == "rediss" else None
        self._password = unquote(parts.password) if parts.password else None
        self._user = unquote(parts.username) if parts.username else None
        database = parts.path.lstrip("/")
        self._database = int(database) if database else 0
        self._connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None

    async def run(self, script: str, keys: list[str], args: Sequence[Arg]) -> Any:
        """``EVALSHA`` of ``script`` (loaded first when Redis does not know it)."""
        sha = _sha(script)
        protocol = await self._connection()
        reply = await protocol.send(pack("EVALSHA", sha, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            await protocol.send(pack("SCRIPT", "LOAD", script))
            reply = await protocol.send(pack("EVALSHA", sha, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError):
            raise RedisFailure(str(reply))
        return reply

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.get_running_loop().create_task(self._connect())
        # Every caller waits on the one connect; a cancelled caller does not cancel it.
        self._protocol = await asyncio.shield(self._connecting)
        return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        protocol: _Protocol | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    _Protocol, self._host, self._port, ssl=self._tls
                )
                hello: list[asyncio.Future[Any]] = []
                if self._password is not None:
                    auth = (self._user, self._password) if self._user else (self._password,)
                    hello.append(protocol.send(pack("AUTH", *auth)))
                if self._database:
                    hello.append(protocol.send(pack("SELECT", self._database)))
                for reply in await asyncio.gather(*hello):
                    if isinstance(reply, hiredis.ReplyError):
                        raise RedisFailure(str(reply))
        except BaseException:
            if protocol is not None:  # a server that never finished the hello: no leak
                protocol.drop("the connection's setup failed")
            raise
        return protocol


@functools.cache
def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


FailureMode = Literal["open", "closed"]


class RedisUse:
    """One limiter's use of Redis: a timeout per call and, after a failure, a pause before
    Redis is tried again; each change (down, back) logged once."""

    def __init__(
        self,
        redis: RedisScripts,
        what: str,
        *,
        timeout: float,
        failure: FailureMode = "open",
        pause: float = 1.0,
    ) -> None:
        """``pause``: how long Redis is left alone after a failure."""
        self.redis = redis
        self.failure = failure
        self.timeout = timeout
        self.pause = pause
        self._what = what
        self._down_until = 0.0
        self.healthy = True

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    async def run(
        self,
        script: str,
        keys: list[str],
        args: Sequence[Arg],
        wait: float | None = None,
        late: Callable[[Any], None] | None = None,
    ) -> Any | None:
        """The script's reply, or None when Redis failed (it is then left alone a while);
        ``wait``: this call's own time limit (default: the limiter's).

        A call that timed out, or whose caller was cancelled, may still have run on Redis:
        with ``late``, the call goes on and ``late`` hears its reply when one comes (a
        reservation that was made after all can then be given back)."""
        call = asyncio.ensure_future(self.redis.run(script, keys, args))
        try:
            async with asyncio.timeout(wait or self.timeout):
                reply = await (asyncio.shield(call) if late is not None else call)
        except (RedisFailure, TimeoutError, OSError) as exc:
            if late is not None and not call.done():
                call.add_done_callback(_hearing(late))
            self._down_until = time.monotonic() + self.pause
            if self.healthy:
                log.warning("Redis %s unavailable (%r); failing %s", self._what, exc,
                            self.failure)  # fmt: skip
            self.healthy = False
            return None
        except asyncio.CancelledError:
            if late is not None and not call.done():
                call.add_done_callback(_hearing(late))
            raise
        if not self.healthy:
            log.info("Redis %s is back", self._what)
        self.healthy = True
        return reply


def _hearing(late: Callable[[Any], None]) -> Callable[[asyncio.Future[Any]], None]:
    def heard(call: asyncio.Future[Any]) -> None:
        if not call.cancelled() and call.exception() is None:
            late(call.result())

    return heard
