"""The request path as a chain of filters, composed per route when a snapshot compiles.

A filter is ``async (exchange, next) -> response``: it may answer by itself (a
refusal), or call ``next`` and look at (or add to) what comes back. A route
runs only the filters its config needs, in this order::

    [authenticate] -> [rate limit] -> body -> balance and retry -> upstream

``upstream`` is the end: it answers with an ``UpstreamAnswer`` (the backend's
head, its body not yet read), which the handler relays to the client once the
chain has returned, calling the observers filters attached to the exchange.
Where a route's requests fall under different security policies (a policy on a
path below the route's), ``PolicyDispatch`` picks the policy's chain per request.

To add a filter: write it here, one concept a module, and add it where
``data_plane.runtime.chains`` composes a route's chain.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web

from data_plane.proxy.exchange import Exchange

Next = Callable[[Exchange], Awaitable[web.StreamResponse]]


class Filter(Protocol):
    async def __call__(self, exchange: Exchange, next: Next) -> web.StreamResponse: ...


def compose(filters: Sequence[Filter], last: Next) -> Next:
    """The chain as one callable, built once: each filter holds the rest as its ``next``.

    ``functools.partial`` binds it (in C), so a filter costs one coroutine per request,
    not a wrapper's as well.
    """
    chain = last
    for step in reversed(filters):
        chain = functools.partial(step, next=chain)
    return chain
