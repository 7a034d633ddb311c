"""What one relay batch changes in its tables, gathered while its events are
applied and written at the end in a few statements in the batch's
transaction: one per table and kind of change, not one per event (those
were most of the relay's round trips). Owed items, placements and the links
between aggregates (workers/declarations.py) all commit with the batch's
tracking position, so a crash between two steps of a flow loses none."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow


@dataclass(frozen=True)
class OwedItem:
    """One piece of work the relay owes: a route's job for one aggregate event."""

    # <kind>_<aggregate id>_<version>, or _via_<other id>_<its version>, or
    # <kind>_<aggregate id>_<version>_on_<queue> (once per host)
    item_id: str
    kind: str
    aggregate_id: str
    queue: str
    batch_id: str
    # Of the event that owes it, for the worker's log lines; not part of its identity.
    request_id: str = field(default="", compare=False)


@dataclass
class RelayWrites:
    """The batch's changes, in the order their events came."""

    # (aggregate, version, kind): that kind's items owed before version are done
    completions: list[tuple[UUID, int, str]] = field(default_factory=list)
    # item id -> (item, aggregate version); items the batch itself completed are gone
    owed: dict[str, tuple[OwedItem, int]] = field(default_factory=dict)
    # aggregate -> host it was placed on in this batch, None if it was forgotten
    placed: dict[UUID, str | None] = field(default_factory=dict)
    # hosts of the batch's aggregates as the table had them before the batch
    known: dict[UUID, str] = field(default_factory=dict)
    # link -> aggregate waited on -> aggregates waiting, as this batch leaves them
    # (read from the table for the aggregates the batch's events come from)
    links: dict[str, dict[UUID, set[UUID]]] = field(default_factory=dict)
    # (link, waited on, waiting) -> whether it holds now, for those the batch made
    linked: dict[tuple[str, UUID, UUID], bool] = field(default_factory=dict)
    # (link, waiting): every link of that aggregate through that link is gone
    unlinked: list[tuple[str, UUID]] = field(default_factory=list)

    def read_hosts(self, cur: Cursor[DictRow], aggregate_ids: Iterable[UUID]) -> None:
        ids = list(set(aggregate_ids))
        if ids:
            cur.execute(
                "SELECT aggregate_id, host FROM relay_placements WHERE aggregate_id = ANY(%s)",
                (ids,),
            )
            self.known.update({row["aggregate_id"]: row["host"] for row in cur.fetchall()})

    def read_links(self, cur: Cursor[DictRow], sources: Iterable[UUID]) -> None:
        ids = list(set(sources))
        if ids:
            cur.execute(
                "SELECT link, source_id, target_id FROM relay_links WHERE source_id = ANY(%s)",
                (ids,),
            )
            for row in cur.fetchall():
                waiting = self.links.setdefault(row["link"], {})
                waiting.setdefault(row["source_id"], set()).add(row["target_id"])

    def waiting_on(self, link: str, source: UUID) -> list[UUID]:
        """The aggregates waiting through ``link`` on ``source``, in a stable order."""
        return sorted(self.links.get(link, {}).get(source, ()), key=str)

    def all_waiting(self) -> set[UUID]:
        return {t for waiting in self.links.values() for ts in waiting.values() for t in ts}

    def link(self, link: str, source: UUID, target: UUID) -> None:
        self.links.setdefault(link, {}).setdefault(source, set()).add(target)
        self.linked[link, source, target] = True

    def link_each(self, link: str, sources: list[UUID], target: UUID) -> None:
        for source in sources:
            self.link(link, source, target)

    def unlink(self, link: str, target: UUID) -> None:
        for targets in self.links.get(link, {}).values():
            targets.discard(target)
        for key in self.linked:
            if key[0] == link and key[2] == target:
                self.linked[key] = False
        self.unlinked.append((link, target))

    def host_of(self, aggregate_id: UUID) -> str | None:
        if aggregate_id in self.placed:
            return self.placed[aggregate_id]
        return self.known.get(aggregate_id)

    def owe(self, item: OwedItem, version: int) -> None:
        self.owed[item.item_id] = (item, version)

    def complete(self, aggregate_id: UUID, version: int, kinds: list[str]) -> None:
        self.completions.extend((aggregate_id, version, kind) for kind in kinds)
        self.cancel(aggregate_id, kinds)

    def cancel(self, aggregate_id: UUID, kinds: list[str]) -> None:
        """Items of ``kinds`` this batch owed the aggregate are not owed after all."""
        aggregate = str(aggregate_id)
        self.owed = {
            item_id: (item, v)
            for item_id, (item, v) in self.owed.items()
            if not (item.aggregate_id == aggregate and item.kind in kinds)
        }

    def items(self) -> list[OwedItem]:
        return [item for item, _ in self.owed.values()]

    def write(self, cur: Cursor[DictRow]) -> None:
        # Completions first: they only concern items owed before them, so
        # none of the rows inserted below (the batch dropped those it completed).
        if self.completions:
            ids, versions, kinds = zip(*self.completions, strict=True)
            cur.execute(
                "DELETE FROM relay_pending p USING unnest(%s::uuid[], %s::int[], %s::text[])"
                " AS d(aggregate_id, version, kind) WHERE p.aggregate_id = d.aggregate_id"
                " AND p.version < d.version AND p.kind = d.kind",
                (list(ids), list(versions), list(kinds)),
            )
        if self.owed:
            rows = [
                (
                    item.item_id,
                    item.aggregate_id,
                    v,
                    item.queue,
                    item.kind,
                    item.batch_id,
                    item.request_id,
                )
                for item, v in self.owed.values()
            ]
            cur.execute(
                "INSERT INTO relay_pending"
                " (job_id, aggregate_id, version, queue, kind, batch_id, request_id)"
                " SELECT * FROM unnest(%s::text[], %s::uuid[], %s::int[], %s::text[],"
                " %s::text[], %s::text[], %s::text[]) ON CONFLICT (job_id) DO NOTHING",
                [list(column) for column in zip(*rows, strict=True)],
            )
        placed = [(a, h) for a, h in self.placed.items() if h is not None]
        if placed:
            cur.execute(
                "INSERT INTO relay_placements SELECT * FROM unnest(%s::uuid[], %s::text[])"
                " ON CONFLICT (aggregate_id) DO UPDATE SET host = EXCLUDED.host",
                [[a for a, _ in placed], [h for _, h in placed]],
            )
        forgotten = [a for a, h in self.placed.items() if h is None]
        if forgotten:
            cur.execute("DELETE FROM relay_placements WHERE aggregate_id = ANY(%s)", (forgotten,))
        self._write_links(cur)

    def _write_links(self, cur: Cursor[DictRow]) -> None:
        # Drops first: a link made later in the batch than a drop is kept.
        if self.unlinked:
            links, targets = zip(*self.unlinked, strict=True)
            cur.execute(
                "DELETE FROM relay_links l USING unnest(%s::text[], %s::uuid[]) AS d(link, target)"
                " WHERE l.link = d.link AND l.target_id = d.target",
                (list(links), list(targets)),
            )
        made = [key for key, holds in self.linked.items() if holds]
        if made:
            cur.execute(
                "INSERT INTO relay_links SELECT * FROM unnest(%s::text[], %s::uuid[], %s::uuid[])"
                " ON CONFLICT DO NOTHING",
                [list(column) for column in zip(*made, strict=True)],
            )
