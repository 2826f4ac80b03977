"""The signing keys of JWKS providers, fetched off the request path and never waited on twice.

Why not PyJWT's PyJWKClient: it fetches on the caller's thread while holding a
lock for the whole fetch, and a fetch that fails does not start its cooldown,
so a hanging issuer plus tokens with made-up ``kid`` values queue fetch after
fetch, and a valid token waits behind all of them. Here:

- a token whose ``kid`` is known is checked against the cached key at once,
  even while a fetch is under way (a stale set is refreshed in the background);
- an unknown ``kid`` starts at most one fetch per cooldown (``--jwks-refetch-cooldown``,
  30 s), counted from the fetch's start whether it succeeds or not; tokens
  arriving during a fetch share it, tokens arriving during the cooldown are
  refused at once;
- a fetch is bounded in time (``--jwks-fetch-timeout``, 5 s) and size (1 MiB).

The cache is per URL and outlives snapshots, so a config change does not refetch.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import aiohttp
import jwt
import orjson

log = logging.getLogger("ai_gateway.data_plane.jwks")

LIFESPAN = 300.0  # a key set this old is refreshed (in the background)
MAX_BYTES = 1 << 20


class UnknownSigningKey(Exception):
    """No key of the provider's set signs this token (the reason, for the 401)."""


class JwksKeys:
    """One JWKS URL's keys by ``kid``."""

    def __init__(self, url: str, fetcher: JwksFetcher) -> None:
        self.url = url
        self._fetcher = fetcher
        self._keys: dict[str, jwt.PyJWK] = {}
        self._only: jwt.PyJWK | None = None  # the set's one key, for tokens without a kid
        self._fetched_at = 0.0
        self._next_fetch = 0.0  # no fetch starts before this (monotonic)
        self._fetching: asyncio.Task[None] | None = None

    async def signing_key(self, kid: str | None) -> jwt.PyJWK:
        key = self._lookup(kid)
        if key is not None:
            if time.monotonic() - self._fetched_at > LIFESPAN:
                self.refresh()  # in the background: this token does not wait
            return key
        if self._fetching is None:
            if time.monotonic() < self._next_fetch:
                raise UnknownSigningKey(
                    f"no key with kid {kid!r} in the key set (fetched again at most every "
                    f"{self._fetcher.cooldown:g}s)"
                )
            self.refresh()
        assert self._fetching is not None
        await asyncio.shield(self._fetching)
        key = self._lookup(kid)
        if key is None:
            raise UnknownSigningKey(f"no key with kid {kid!r} in the key set of {self.url}")
        return key

    def refresh(self) -> None:
        """Start a fetch unless one is under way or the cooldown has not passed."""
        now = time.monotonic()
        if self._fetching is not None or now < self._next_fetch:
            return
        self._next_fetch = now + self._fetcher.cooldown  # from the start: failures cool down too
        self._fetching = asyncio.get_running_loop().create_task(self._fetch())

    async def _fetch(self) -> None:
        try:
            document = await self._fetcher.get(self.url)
            key_set = jwt.PyJWKSet.from_dict(document)
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
            log.warning("cannot fetch the JWKS %s: %s", self.url, exc or type(exc).__name__)
            return
        finally:
            self._fetching = None
        signing = [k for k in key_set.keys if k.public_key_use in (None, "sig")]
        self._keys = {k.key_id: k for k in signing if k.key_id}
        self._only = signing[0] if len(signing) == 1 else None
        self._fetched_at = time.monotonic()

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        return self._keys.get(kid) if kid is not None else self._only


class JwksFetcher:
    """GETs key sets over one aiohttp session (made on first use, in the event loop), verified
    like HTTPS backends (``--upstream-ca``)."""

    def __init__(
        self, tls: ssl.SSLContext | None = None, *, timeout: float = 5.0, cooldown: float = 30.0
    ) -> None:
        self._tls = tls
        self.timeout = timeout
        self.cooldown = cooldown
        self._session: aiohttp.ClientSession | None = None
        self._caches: dict[str, JwksKeys] = {}

    def keys(self, url: str) -> JwksKeys:
        """The cache of ``url``'s keys, the same one for every snapshot that names it."""
        cache = self._caches.get(url)
        if cache is None:
            cache = self._caches[url] = JwksKeys(url, self)
        return cache

    def retain(self, urls: set[str]) -> None:
        for url in [u for u in self._caches if u not in urls]:
            del self._caches[url]

    async def get(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(ssl=self._tls if self._tls is not None else True),
            )
        async with self._session.get(url, allow_redirects=False) as answer:
            if answer.status != 200:
                raise ValueError(f"{url} answered {answer.status}")
            body = await answer.content.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise ValueError(f"{url} sent a key set over {MAX_BYTES} bytes")
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not send a JSON object")
        return document

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
