"""A read model's shadow: the same tables, built in a PostgreSQL schema of
their own from the event log, beside the live ones the API keeps reading.

The views' SQL names its tables unqualified, so a connection whose
``search_path`` is the shadow's schema alone runs a view's DDL and its event
handlers unchanged against the shadow (and fails loudly, rather than writing
the live tables, if a handler ever named another view's table)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Identifier

from projections.registry import VIEW_CLASSES
from projections.view import APPLICATION_NAME, ProjectionView

_CREATED_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)
LIVE_SCHEMA = "public"


class UnknownProjectionError(LookupError):
    """A projection name that no read model has."""

    def __init__(self, name: str) -> None:
        known = ", ".join(view.name for view in VIEW_CLASSES)
        super().__init__(f"unknown projection {name!r} (known: {known})")


def view_class(name: str) -> type[ProjectionView]:
    for cls in VIEW_CLASSES:
        if cls.name == name:
            return cls
    raise UnknownProjectionError(name)


def view_tables(cls: type[ProjectionView]) -> tuple[str, ...]:
    """The tables a view's DDL creates (its tracking table aside)."""
    return tuple(m.group(1) for statement in cls.ddl for m in _CREATED_TABLE.finditer(statement))


def tracking_table(cls: type[ProjectionView]) -> str:
    return f"{cls.name}_tracking"


class Shadow:
    """One view's tables and tracking row in schema ``schema``."""

    def __init__(self, view: ProjectionView, database_url: str, schema: str) -> None:
        self.view, self.database_url, self.schema = view, database_url, schema
        self.tables = view_tables(type(view))
        self.tracking = tracking_table(type(view))

    def connect(self) -> psycopg.Connection[DictRow]:
        """A connection that finds the shadow's tables by their plain names."""
        return psycopg.connect(
            self.database_url,
            row_factory=dict_row,
            options=f"-c search_path={self.schema}",
        )

    def exists(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
        ).fetchone()
        return row is not None

    def create(self, conn: psycopg.Connection[DictRow]) -> int:
        """Make the schema, its tables (secondary indexes deferred) and its
        tracking table, in one transaction, unless an earlier run left them;
        returns the position to resume from (0 for a new shadow)."""
        with conn.transaction():
            if not self.exists(conn):
                conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(self.schema)))
                self._run_ddl(conn)
                conn.execute(
                    SQL(
                        "CREATE TABLE {} (application_name text PRIMARY KEY,"
                        " notification_id bigint NOT NULL)"
                    ).format(Identifier(self.tracking))
                )
                self._defer_indexes(conn)
            return self.position(conn)

    def position(self, conn: psycopg.Connection[DictRow]) -> int:
        row = conn.execute(
            SQL("SELECT notification_id FROM {} WHERE application_name = %s").format(
                Identifier(self.tracking)
            ),
            (APPLICATION_NAME,),
        ).fetchone()
        return int(row["notification_id"]) if row else 0

    def apply(
        self, conn: psycopg.Connection[DictRow], pages: Iterable[Sequence[tuple[Any, int]]]
    ) -> int | None:
        """In the caller's transaction: apply pages of (event, notification
        id); returns the last notification id applied (None if none).
        Pipeline mode sends the statements without waiting for each answer,
        so the database works while Python decodes the next events."""
        last = None
        with conn.pipeline(), conn.cursor() as cur:
            for page in pages:
                for event, notification_id in page:
                    self.view.apply_at(event, notification_id, cur)
                if page:
                    last = page[-1][1]
        return last

    def record(self, conn: psycopg.Connection[DictRow], position: int) -> None:
        """In the caller's transaction, with the rows it wrote: the shadow
        has seen the log up to ``position`` (resume from there)."""
        conn.execute(
            SQL(
                "INSERT INTO {} VALUES (%s, %s) ON CONFLICT (application_name)"
                " DO UPDATE SET notification_id = EXCLUDED.notification_id"
            ).format(Identifier(self.tracking)),
            (APPLICATION_NAME, position),
        )

    def finish_indexes(self, conn: psycopg.Connection[DictRow]) -> None:
        """Create the indexes deferred by ``create`` (the DDL is idempotent,
        so running it again makes exactly what is missing), then give the
        planner statistics, so the API's first queries on it plan well."""
        with conn.transaction():
            self._run_ddl(conn)
        for table in self.tables:
            conn.execute(SQL("ANALYZE {}").format(Identifier(self.schema, table)))

    def drop(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(self.schema)))
        conn.commit()

    def _run_ddl(self, conn: psycopg.Connection[DictRow]) -> None:
        for statement in self.view.ddl:
            conn.execute(statement.encode())

    def _defer_indexes(self, conn: psycopg.Connection[DictRow]) -> None:
        """Drop the secondary indexes of a new, empty shadow: building them
        once after the bulk load is cheaper than keeping them up to date
        through it. Unique ones stay (handlers' ON CONFLICT needs them)."""
        found = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND NOT i.indisunique AND NOT i.indisprimary",
            (self.schema,),
        ).fetchall()
        for row in found:
            conn.execute(SQL("DROP INDEX {}").format(Identifier(self.schema, row["relname"])))
