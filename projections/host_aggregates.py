"""The host aggregates read model (os-aggregates), and each host's zone."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.host_aggregate import HostAggregate
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class HostAggregatesView(ProjectionView):
    name = "host_aggregates"
    topics = topics_of(
        HostAggregate.Created,
        HostAggregate.Renamed,
        HostAggregate.MetadataSet,
        HostAggregate.HostAdded,
        HostAggregate.HostRemoved,
        HostAggregate.Deleted,
    )
    ddl = (
        # number: Nova shows aggregates with an integer id; it is the creation
        # event's notification id, so a rebuild keeps every aggregate's id.
        """CREATE TABLE IF NOT EXISTS host_aggregates (
            aggregate_id uuid PRIMARY KEY, number bigint UNIQUE NOT NULL, name text NOT NULL,
            metadata jsonb NOT NULL, hosts text[] NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL, updated_at timestamptz)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    def apply_at(self, event: Any, notification_id: int, cur: Cursor[DictRow]) -> None:
        if not isinstance(event, HostAggregate.Created):
            self.apply(event, cur)
            return
        cur.execute(
            "INSERT INTO host_aggregates (aggregate_id, number, name, metadata, created_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                event.originator_id,
                notification_id,
                event.name,
                Jsonb(event.metadata),
                event.timestamp,
            ),
        )

    @apply.register
    def _(self, e: HostAggregate.Renamed, cur: Cursor[DictRow]) -> None:
        self._set(cur, e, "name = %s", e.name)

    @apply.register
    def _(self, e: HostAggregate.MetadataSet, cur: Cursor[DictRow]) -> None:
        self._set(cur, e, "metadata = %s", Jsonb(e.metadata))

    @apply.register
    def _(self, e: HostAggregate.HostAdded, cur: Cursor[DictRow]) -> None:
        self._set(cur, e, "hosts = array_append(hosts, %s)", e.host)

    @apply.register
    def _(self, e: HostAggregate.HostRemoved, cur: Cursor[DictRow]) -> None:
        self._set(cur, e, "hosts = array_remove(hosts, %s)", e.host)

    @apply.register
    def _(self, e: HostAggregate.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM host_aggregates WHERE aggregate_id = %s", (e.originator_id,))

    @staticmethod
    def _set(cur: Cursor[DictRow], e: Any, assignment: str, value: Any) -> None:
        cur.execute(
            f"UPDATE host_aggregates SET {assignment}, updated_at = %s WHERE aggregate_id = %s",
            (value, e.timestamp, e.originator_id),
        )


_COLUMNS = (
    "aggregate_id::text AS uuid, number, name, metadata, hosts, "
    """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS created, """
    """to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS updated"""
)


def aggregates() -> Query:
    return Query(f"SELECT {_COLUMNS} FROM host_aggregates ORDER BY number")


def aggregate_by_number(number: int) -> Query:
    return Query(f"SELECT {_COLUMNS} FROM host_aggregates WHERE number = %s", (number,))


def zone_holding(host: str) -> Query:
    """The zones of the aggregates a host is in (a host may be in one zone)."""
    return Query(
        "SELECT DISTINCT metadata->>'availability_zone' AS zone FROM host_aggregates"
        " WHERE %s = ANY(hosts) AND metadata ? 'availability_zone'",
        (host,),
    )
