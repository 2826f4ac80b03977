"""The security policy of each request, for routes whose requests fall under several.

Policies apply to an endpoint and everything below it, and the longest one
wins; most routes sit under one policy (or none) and get its filters at
compile time. A route with a policy on a path below its own (``/chat`` with
one on ``/chat/admin``), or a regex route, gets this instead: the policy is
looked up per request on the normalised path, and that policy's chain
(composed once, at compile time) serves the request.
"""

from __future__ import annotations

from aiohttp import web

from data_plane.filters import Next
from data_plane.proxy.exchange import Exchange
from data_plane.security.policies import CompiledPolicy, PolicyTable


class PolicyDispatch:
    def __init__(self, table: PolicyTable, chains: dict[str, Next], unsecured: Next) -> None:
        """``chains``: by policy endpoint; ``unsecured``: for paths no policy covers."""
        self._table = table
        self._chains = chains
        self._unsecured = unsecured

    async def __call__(self, exchange: Exchange) -> web.StreamResponse:
        policy: CompiledPolicy | None = self._table.lookup(exchange.path)
        chain = self._chains[policy.endpoint] if policy is not None else self._unsecured
        return await chain(exchange)
