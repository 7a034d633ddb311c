"""Verify a read model: rebuild it in a shadow up to the live position and
compare the two, table by table, row by row in primary-key order.

The live side is read in one REPEATABLE READ snapshot taken when the live
position is read: the projector writes rows and tracking in one
transaction, so that snapshot holds exactly the events up to that
position, while the projector goes on (nothing is locked)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Composable, Identifier

from projections.rebuild import ShadowBuild, live_position
from projections.shadow import LIVE_SCHEMA

ROWS_PER_FETCH = 10_000


@dataclass(frozen=True)
class Difference:
    table: str
    key: str  # the primary key as a JSON array (the whole row where there is none)
    what: str  # "only in live", "only in the rebuild", "differs"


def verify(build: ShadowBuild) -> tuple[int, list[Difference]]:
    """(the log position compared at, the differences); the shadow is
    dropped afterwards, whatever happens."""
    with build.shadow.connect() as conn:
        build.claim(conn)
        try:
            position = build.follow_live(conn, build.shadow.create(conn))
            with psycopg.connect(build.shadow.database_url, row_factory=dict_row) as live:
                live.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                target = live_position(live, build.view)  # fixes the snapshot
                with conn.transaction():
                    build.load_within(conn, position, target)
                schema = build.shadow.schema
                found = [d for t in build.shadow.tables for d in _compare(live, conn, schema, t)]
            return target, found
        finally:
            conn.rollback()
            build.shadow.drop(conn)


def _compare(
    live: psycopg.Connection[DictRow], shadow: psycopg.Connection[DictRow], schema: str, table: str
) -> Iterator[Difference]:
    key = _key_of(shadow, schema, table)
    live_rows = _digests(live, Identifier(LIVE_SCHEMA, table), key)
    rebuilt_rows = _digests(shadow, Identifier(schema, table), key)
    return _merge(table, live_rows, rebuilt_rows)


def _key_of(conn: psycopg.Connection[DictRow], schema: str, table: str) -> Composable:
    """The row's primary key as JSON text, or the whole row where there is none."""
    columns = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (f"{schema}.{table}",),
    ).fetchall()
    if not columns:
        return SQL("to_jsonb(t)::text")
    names = SQL(", ").join(Identifier("t", row["attname"]) for row in columns)
    return SQL("jsonb_build_array({})::text").format(names)


def _digests(
    conn: psycopg.Connection[DictRow], table: Identifier, key: Composable
) -> Iterator[tuple[str, str]]:
    """(key, md5 of the row as JSON) in key order. COLLATE "C" orders by
    code point, as Python compares strings, so the two streams merge."""
    query = SQL(
        "SELECT {key} AS key, md5(to_jsonb(t)::text) AS digest FROM {table} AS t"
        ' ORDER BY {key} COLLATE "C", 2'
    ).format(key=key, table=table)
    with conn.cursor(name="verify_digests") as cur:
        cur.itersize = ROWS_PER_FETCH
        cur.execute(query)
        for row in cur:
            yield row["key"], row["digest"]


def _merge(
    table: str, live: Iterator[tuple[str, str]], rebuilt: Iterator[tuple[str, str]]
) -> Iterator[Difference]:
    ours, theirs = next(live, None), next(rebuilt, None)
    while ours is not None or theirs is not None:
        if theirs is None or (ours is not None and ours[0] < theirs[0]):
            assert ours is not None
            yield Difference(table, ours[0], "only in live")
            ours = next(live, None)
        elif ours is None or theirs[0] < ours[0]:
            yield Difference(table, theirs[0], "only in the rebuild")
            theirs = next(rebuilt, None)
        else:
            if ours[1] != theirs[1]:
                yield Difference(table, ours[0], "differs")
            ours, theirs = next(live, None), next(rebuilt, None)
