"""Base class of every read model: its tables and its tracking row are
written in one transaction, so each event is applied exactly once."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any, ClassVar

from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections.reader import Query

APPLICATION_NAME = "cloudledger"
PROGRESS_CHANNEL = "cloudledger_projected"


def topics_of(*event_classes: type) -> tuple[str, ...]:
    return tuple(get_topic(cls) for cls in event_classes)


def record_positions(cur: Cursor[DictRow], moves: Sequence[tuple[ProjectionView, int]]) -> None:
    """Move each view's tracking row forward and tell waiting API requests,
    in ONE statement (a batch used to spend a round trip per view on each).
    IntegrityError if a view is already at or past its new position: this
    batch was applied before (a follower behind the truth), so it rolls back."""
    query = _positions_query(tuple(view.tracking_table_name for view, _ in moves))
    payload = ",".join(f"{view.name}:{position}" for view, position in moves)
    params: list[Any] = [p for _, position in moves for p in (APPLICATION_NAME, position)]
    cur.execute(query, [*params, PROGRESS_CHANNEL, payload])
    row = cur.fetchone()
    if row is None or row["moved"] != len(moves):
        raise IntegrityError(f"tracking did not move forward for {payload}")


@functools.cache
def _positions_query(tables: tuple[str, ...]) -> bytes:
    upserts = [
        SQL(
            "t{n} AS (INSERT INTO {table} VALUES (%s, %s) ON CONFLICT (application_name) "
            "DO UPDATE SET notification_id = EXCLUDED.notification_id "
            "WHERE {table}.notification_id < EXCLUDED.notification_id RETURNING 1)"
        ).format(n=SQL(str(n)), table=Identifier(table))
        for n, table in enumerate(tables)
    ]
    moved = SQL(" + ").join(
        SQL("(SELECT count(*) FROM t{})").format(SQL(str(n))) for n in range(len(tables))
    )
    return (
        SQL("WITH {} SELECT {} AS moved, pg_notify(%s, %s)")
        .format(SQL(", ").join(upserts), moved)
        .as_bytes(None)
    )


class ProjectionView(PostgresTrackingRecorder):
    """A read model: DDL, one handler per event type, and its queries."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    ddl: ClassVar[tuple[str, ...]]

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        kwargs.setdefault("tracking_table_name", f"{self.name}_tracking")
        super().__init__(datastore, **kwargs)
        for statement in self.ddl:
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]

    def apply_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        """Apply (domain event, notification id) pairs and advance tracking,
        all in one transaction."""
        # A durable commit: a follower moves on from the position it committed,
        # so a commit lost in a database crash would skip its batch for good.
        with self.datastore.transaction(commit=True) as cur:
            position = self.apply_within(cur, events, after=0)
            record_positions(cur, [(self, position)])
            return position

    def apply_within(
        self, cur: Cursor[DictRow], events: Sequence[tuple[Any, int]], after: int
    ) -> int:
        """In the caller's transaction: apply the events past ``after``; the
        caller records the position returned (``record_positions``)."""
        for event, notification_id in events:
            if notification_id > after:
                self.apply_at(event, notification_id, cur)
        return int(events[-1][1])

    def apply_at(self, event: Any, notification_id: int, cur: Cursor[DictRow]) -> None:
        """Apply one event, found at ``notification_id`` in the log. A view
        that numbers its rows overrides this to number a row by its creation
        event's notification id: a rebuild gives the same number again, where
        a sequence would renumber (and a rolled-back batch would skip some)."""
        self.apply(event, cur)

    def position(self) -> int:
        return self.max_tracking_id(APPLICATION_NAME) or 0

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Events a view does not handle only move its tracking position."""

    def fetch_all(self, query: Query) -> list[DictRow]:
        """Run one of the read model's queries (the API runs the same ones on
        its asyncio pool: projections/reader.py)."""
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(query.sql, query.params)
            return cur.fetchall()

    def fetch_one(self, query: Query) -> DictRow | None:
        rows = self.fetch_all(query)
        return rows[0] if rows else None
