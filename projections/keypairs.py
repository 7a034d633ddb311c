"""The keypairs read model: each user's keypairs, for os-keypairs."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.keypair import Keypair
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class KeypairsView(ProjectionView):
    name = "keypairs"
    topics = topics_of(Keypair.Created, Keypair.Deleted)
    ddl = (
        # number: Nova shows keypairs with an integer id; the creation event's
        # notification id, so a rebuild keeps it (as host_aggregates does).
        """CREATE TABLE IF NOT EXISTS keypairs (
            aggregate_id uuid PRIMARY KEY, number bigint NOT NULL, user_id text NOT NULL,
            name text NOT NULL, key_type text NOT NULL, public_key text NOT NULL,
            fingerprint text NOT NULL, created_at timestamptz NOT NULL)""",
        "CREATE UNIQUE INDEX IF NOT EXISTS keypairs_by_user ON keypairs (user_id, name)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    def apply_at(self, event: Any, notification_id: int, cur: Cursor[DictRow]) -> None:
        if not isinstance(event, Keypair.Created):
            self.apply(event, cur)
            return
        cur.execute(
            "INSERT INTO keypairs (aggregate_id, number, user_id, name, key_type, public_key,"
            " fingerprint, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                event.originator_id,
                notification_id,
                event.user_id,
                event.name,
                event.key_type,
                event.public_key,
                event.fingerprint,
                event.timestamp,
            ),
        )

    @apply.register
    def _(self, e: Keypair.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM keypairs WHERE aggregate_id = %s", (e.originator_id,))


_COLUMNS = (
    "number, user_id, name, key_type, public_key, fingerprint,"
    """ to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS created"""
)


def keypairs_of(user_id: str) -> Query:
    return Query(f"SELECT {_COLUMNS} FROM keypairs WHERE user_id = %s ORDER BY name", (user_id,))


def keypair(user_id: str, name: str) -> Query:
    return Query(
        f"SELECT {_COLUMNS} FROM keypairs WHERE user_id = %s AND name = %s", (user_id, name)
    )
