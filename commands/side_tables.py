"""Plain tables beside the ledger, in its database, for records that are not
domain events (login attempts, refused requests): append-only, created with
the schema (ops/schema.py)."""

from __future__ import annotations

from typing import ClassVar

from eventsourcing.postgres import PostgresDatastore


class SideTable:
    """A table kept through the ledger's datastore; ``DDL`` creates it."""

    DDL: ClassVar[tuple[str, ...]] = ()

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for statement in self.DDL:
                cur.execute(statement)
