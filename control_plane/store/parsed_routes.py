"""A cluster's route rows as records, each parsed once per version of its row.

Every change rebuilds the cluster's snapshot from its rows. Parsing 10,000 route documents
again for a change of one took most of a second, so each parsed row is kept, keyed by its
id and ``updated_at`` (every write of a row sets it): a read selects the rows' ids, names,
positions and times only, and fetches and parses just the rows that are new or changed
(written by this replica or another). A row's canonical JSON is kept too: the history
hashes and stores the document from these without encoding every route again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.store.records import RouteRecord
from control_plane.store.tables import RouteRow

IDS_PER_IN = 500  # ids per IN (...): within SQLite's parameter limit


@dataclass(frozen=True, slots=True)
class ParsedRoute:
    updated_at: float
    record: RouteRecord
    canonical: str  # the route as the document holds it (its name filled in), canonical JSON
    document: dict[str, Any]  # its spec as route_documents dumps it (name, no position)


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class ParsedRoutes:
    def __init__(self, parse: Callable[[RouteRow], RouteRecord]) -> None:
        self._parse = parse  # raises StoredRowInvalid for a row this release cannot read
        self._clusters: dict[str, dict[str, ParsedRoute]] = {}

    async def read(self, session: AsyncSession, cluster: str) -> list[ParsedRoute]:
        """The cluster's routes in match order, inside the caller's transaction."""
        await session.flush()  # the caller's pending rows: a Core read does not flush them
        connection = await session.connection()  # Core rows: no ORM loading for 10,000 of them
        rows = (
            await connection.execute(
                select(RouteRow.id, RouteRow.name, RouteRow.position, RouteRow.updated_at)
                .where(RouteRow.cluster == cluster)
                .order_by(RouteRow.position)
            )
        ).all()
        known = self._clusters.get(cluster, {})
        stale = [
            route_id
            for route_id, name, position, updated_at in rows
            if not _current(known.get(route_id), name, position, updated_at)
        ]
        fetched = await self._fetch(session, stale)
        kept: dict[str, ParsedRoute] = {}
        routes = []
        for route_id, *_ in rows:
            parsed = fetched.get(route_id) or known.get(route_id)
            if parsed is None:  # deleted between the two reads (another transaction)
                continue
            kept[route_id] = parsed
            routes.append(parsed)
        self._clusters[cluster] = kept
        return routes

    async def _fetch(self, session: AsyncSession, ids: Sequence[str]) -> dict[str, ParsedRoute]:
        rows: list[RouteRow] = []
        for start in range(0, len(ids), IDS_PER_IN):
            chunk = ids[start : start + IDS_PER_IN]
            rows.extend(await session.scalars(select(RouteRow).where(RouteRow.id.in_(chunk))))
        # Parsing thousands of rows (an apply) is CPU work: a thread, so that the event loop
        # goes on serving the admin API and the streams meanwhile (the rows are loaded).
        return await asyncio.to_thread(self._parse_rows, rows) if len(rows) > 50 else (
            self._parse_rows(rows))  # fmt: skip

    def _parse_rows(self, rows: Sequence[RouteRow]) -> dict[str, ParsedRoute]:
        fetched = {}
        for row in rows:
            stored = {k: v for k, v in row.spec.items() if k != "position"}
            record = self._parse(row)
            document = {**record.spec.model_dump(mode="json"), "name": row.name}
            canonical = canonical_json({**stored, "name": row.name})
            fetched[row.id] = ParsedRoute(row.updated_at, record, canonical, document)
        return fetched

    def seed(self, cluster: str, written: Sequence[ParsedRoute]) -> None:
        """Rows a write is storing, with the specs it parsed already: the read that builds
        the change's snapshot finds them current instead of parsing them again (10,000 of
        them in an apply). Should the write not commit, the rows' times differ from these
        (or the rows do not exist) and they are read again."""
        added = {parsed.record.id: parsed for parsed in written}
        # A new dict, not the one a read in progress may hold.
        self._clusters[cluster] = {**self._clusters.get(cluster, {}), **added}

    def forget(self, cluster: str) -> None:
        self._clusters.pop(cluster, None)


def _current(parsed: ParsedRoute | None, name: str, position: int, updated_at: float) -> bool:
    return (
        parsed is not None
        and parsed.updated_at == updated_at
        and parsed.record.name == name
        and parsed.record.position == position
    )
