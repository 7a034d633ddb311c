"""The flavors read model."""

from __future__ import annotations

from dataclasses import dataclass
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
    topics = topics_of(
        Flavor.Created,
        Flavor.Deactivated,
        Flavor.ExtraSpecsSet,
        Flavor.ExtraSpecDeleted,
        Flavor.AccessAdded,
        Flavor.AccessRemoved,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS flavors (
            aggregate_id uuid UNIQUE NOT NULL, flavor_id text PRIMARY KEY,
            name text NOT NULL, vcpus int NOT NULL, ram_mb int NOT NULL,
            disk_gb int NOT NULL, ephemeral_gb int NOT NULL, swap_mb int NOT NULL,
            is_public boolean NOT NULL, active boolean NOT NULL DEFAULT true)""",
        """CREATE TABLE IF NOT EXISTS flavor_extra_specs (
            flavor_id text NOT NULL, key text NOT NULL, value text NOT NULL,
            PRIMARY KEY (flavor_id, key))""",
        """CREATE TABLE IF NOT EXISTS flavor_access (
            flavor_id text NOT NULL, project_id text NOT NULL,
            PRIMARY KEY (flavor_id, project_id))""",
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

    @apply.register
    def _(self, e: Flavor.ExtraSpecsSet, cur: Cursor[DictRow]) -> None:
        cur.executemany(
            "INSERT INTO flavor_extra_specs"
            " SELECT flavor_id, %s, %s FROM flavors WHERE aggregate_id = %s"
            " ON CONFLICT (flavor_id, key) DO UPDATE SET value = EXCLUDED.value",
            [(key, value, e.originator_id) for key, value in e.specs.items()],
        )

    @apply.register
    def _(self, e: Flavor.ExtraSpecDeleted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "DELETE FROM flavor_extra_specs WHERE key = %s"
            " AND flavor_id = (SELECT flavor_id FROM flavors WHERE aggregate_id = %s)",
            (e.key, e.originator_id),
        )

    @apply.register
    def _(self, e: Flavor.AccessAdded, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO flavor_access SELECT flavor_id, %s FROM flavors WHERE aggregate_id = %s"
            " ON CONFLICT DO NOTHING",
            (e.project_id, e.originator_id),
        )

    @apply.register
    def _(self, e: Flavor.AccessRemoved, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "DELETE FROM flavor_access WHERE project_id = %s"
            " AND flavor_id = (SELECT flavor_id FROM flavors WHERE aggregate_id = %s)",
            (e.project_id, e.originator_id),
        )

    def get(self, flavor_id: str) -> DictRow | None:
        return self.fetch_one(flavor_by_id(flavor_id))

    def list_flavors(self, include_private: bool, project_id: str = "") -> list[DictRow]:
        return self.fetch_all(flavor_list(include_private, project_id))


# A project sees the public flavors and the private ones it was given.
_USABLE = (
    "(is_public OR %s OR EXISTS (SELECT 1 FROM flavor_access a"
    " WHERE a.flavor_id = flavors.flavor_id AND a.project_id = %s))"
)


def flavor_by_id(flavor_id: str) -> Query:
    return Query("SELECT * FROM flavors WHERE flavor_id=%s AND active", (flavor_id,))


def visible_flavor(flavor_id: str, project_id: str, is_admin: bool) -> Query:
    return Query(
        f"SELECT * FROM flavors WHERE flavor_id = %s AND active AND {_USABLE}",
        (flavor_id, is_admin, project_id),
    )


def flavor_list(include_private: bool, project_id: str = "") -> Query:
    return Query(
        f"SELECT * FROM flavors WHERE active AND {_USABLE} "
        "ORDER BY ram_mb, vcpus, disk_gb, flavor_id",
        (include_private, project_id),
    )


@dataclass(frozen=True)
class FlavorPage:
    """Nova's flavor list filters and paging: at least this much RAM (MiB)
    and root disk (GiB), after the marker's row in the list's order."""

    min_ram_mb: int = 0
    min_disk_gb: int = 0
    after: tuple[int, int, int, str] | None = None  # the marker's (ram, vcpus, disk, id)
    limit: int | None = None


def flavor_page(include_private: bool, project_id: str, page: FlavorPage) -> Query:
    """``flavor_list``, filtered and paged in the same order."""
    after = page.after or (-1, -1, -1, "")
    return Query(
        f"SELECT * FROM flavors WHERE active AND {_USABLE} AND ram_mb >= %s AND disk_gb >= %s"
        " AND (ram_mb, vcpus, disk_gb, flavor_id) > (%s, %s, %s, %s)"
        " ORDER BY ram_mb, vcpus, disk_gb, flavor_id LIMIT %s",
        (include_private, project_id, page.min_ram_mb, page.min_disk_gb, *after, page.limit),
    )


def extra_specs(flavor_id: str) -> Query:
    return Query(
        "SELECT key, value FROM flavor_extra_specs WHERE flavor_id = %s ORDER BY key",
        (flavor_id,),
    )


def flavor_access(flavor_id: str) -> Query:
    return Query(
        "SELECT project_id FROM flavor_access WHERE flavor_id = %s ORDER BY project_id",
        (flavor_id,),
    )
