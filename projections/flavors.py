"""The flavors read model."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.flavor import Flavor
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class FlavorsView(ProjectionView):
    """Active flavors by their API id ("1" for m1.tiny, ...)."""

    name = "flavors"
    topics = topics_of(Flavor.Created, Flavor.Deactivated)
    ddl = (
        """CREATE TABLE IF NOT EXISTS flavors (
            aggregate_id uuid UNIQUE NOT NULL, flavor_id text PRIMARY KEY,
            name text NOT NULL, vcpus int NOT NULL, ram_mb int NOT NULL,
            disk_gb int NOT NULL, ephemeral_gb int NOT NULL, swap_mb int NOT NULL,
            is_public boolean NOT NULL, active boolean NOT NULL DEFAULT true)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Flavor.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO flavors VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,true)",
            (
                e.originator_id,
                e.flavor_id,
                e.name,
                e.vcpus,
                e.ram_mb,
                e.disk_gb,
                e.ephemeral_gb,
                e.swap_mb,
                e.is_public,
            ),
        )

    @apply.register
    def _(self, e: Flavor.Deactivated, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE flavors SET active=false WHERE aggregate_id=%s", (e.originator_id,))

    def get(self, flavor_id: str) -> DictRow | None:
        return self.fetch_one(flavor_by_id(flavor_id))

    def list_flavors(self, include_private: bool) -> list[DictRow]:
        return self.fetch_all(flavor_list(include_private))


def flavor_by_id(flavor_id: str) -> Query:
    return Query("SELECT * FROM flavors WHERE flavor_id=%s AND active", (flavor_id,))


def flavor_list(include_private: bool) -> Query:
    return Query(
        "SELECT * FROM flavors WHERE active AND (is_public OR %s) "
        "ORDER BY ram_mb, vcpus, disk_gb, flavor_id",
        (include_private,),
    )
