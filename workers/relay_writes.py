"""What one relay batch changes in its tables, gathered while its events are
applied and written at the end in a few statements in the batch's
transaction: one per table and kind of change, not one per event (those
were most of the relay's round trips)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow


@dataclass(frozen=True)
class OwedItem:
    """One piece of work the relay owes: a route's job for one aggregate event."""

    item_id: str  # <kind>_<aggregate id>_<version>
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

    def read_hosts(self, cur: Cursor[DictRow], aggregate_ids: Iterable[UUID]) -> None:
        ids = list(set(aggregate_ids))
        if ids:
            cur.execute(
                "SELECT aggregate_id, host FROM relay_placements WHERE aggregate_id = ANY(%s)",
                (ids,),
            )
            self.known.update({row["aggregate_id"]: row["host"] for row in cur.fetchall()})

    def host_of(self, aggregate_id: UUID) -> str | None:
        if aggregate_id in self.placed:
            return self.placed[aggregate_id]
        return self.known.get(aggregate_id)

    def owe(self, item: OwedItem, version: int) -> None:
        self.owed[item.item_id] = (item, version)

    def complete(self, aggregate_id: UUID, version: int, kinds: list[str]) -> None:
        self.completions.extend((aggregate_id, version, kind) for kind in kinds)
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
