"""The servers read model's queries, run by its view (projections/servers.py)
and by the API on its asyncio pool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.reader import Query


def _nova_time(column: str, name: str) -> str:
    """Nova's timestamp text: UTC, to the second, with a Z (NULL stays NULL).
    Named apart from the column, which ORDER BY must still mean."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS {name}"""


# A scheduled server is in its host's zone (an aggregate's, else the host's
# own); before that, in the zone it asked for.
_ZONE = (
    "CASE WHEN host IS NULL THEN availability_zone ELSE coalesce("
    "(SELECT a.metadata->>'availability_zone' FROM host_aggregates a"
    " WHERE servers.host = ANY(a.hosts) AND a.metadata ? 'availability_zone' LIMIT 1),"
    " (SELECT h.zone FROM hosts h WHERE h.name = servers.host), 'nova') END AS zone"
)

# What the API shows of a server, as text where the API shows text: turning
# a thousand rows' timestamps and ids into strings in Python cost more than
# the rest of a listing.
_SERVER_COLUMNS = ", ".join(
    [
        "id::text AS id, project_id, user_id, name, image_id",
        "flavor->>'flavor_id' AS flavor_id, vm_state, task_state, power_state, host, fault",
        "key_name, metadata, description, locked, tags",
        "access_ipv4, access_ipv6",
        _ZONE,
        _nova_time("created_at", "created"),
        _nova_time("updated_at", "updated"),
        _nova_time("launched_at", "launched"),
        _nova_time("terminated_at", "terminated"),
        "flavor",  # the whole snapshot, which microversion 2.47 embeds
    ]
)


def server_by_id(server_id: UUID) -> Query:
    return Query(f"SELECT {_SERVER_COLUMNS} FROM servers WHERE id=%s AND NOT deleted", (server_id,))


@dataclass(frozen=True)
class ServerFilters:
    """Nova's list filters. ``changes_since`` includes deleted servers (as
    Nova's does); ``deleted`` True lists only them; ``host`` is for admins."""

    name_contains: str | None = None
    vm_states: tuple[str, ...] = ()
    changes_since: datetime | None = None
    host: str | None = None
    deleted: bool | None = None
    # A status shown while a task runs (REBOOT, RESIZE, ...) is a task state.
    task_states: tuple[str, ...] = ()
    # Nova's tag filters: all of, any of, not all of, none of.
    tags: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    not_tags_any: tuple[str, ...] = ()
    # Booted from this image id, of this flavor id (Nova's image and flavor filters).
    image_id: str | None = None
    flavor_id: str | None = None


def servers_page(
    project_id: str | None,
    limit: int,
    marker: UUID | None = None,
    name_contains: str | None = None,
    vm_states: tuple[str, ...] = (),
    filters: ServerFilters | None = None,
) -> Query:
    """Newest first; project_id None lists every project (admin). Filters
    apply before the limit, so a filtered page is never cut short."""
    f = filters or ServerFilters(name_contains, vm_states)
    name_contains, vm_states = f.name_contains, f.vm_states
    where, params = list[str](), list[Any]()
    if f.deleted is not None:
        where.append("deleted" if f.deleted else "NOT deleted")
    elif f.changes_since is None:
        where.append("NOT deleted")
    if f.changes_since is not None:
        where.append("updated_at >= %s")
        params.append(f.changes_since)
    equal = (("host", f.host), ("image_id", f.image_id), ("flavor->>'flavor_id'", f.flavor_id))
    for column, value in equal:
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if project_id is not None:
        where.append("project_id=%s")
        params.append(project_id)
    if name_contains is not None:
        where.append("strpos(name, %s) > 0")
        params.append(name_contains)
    if vm_states:
        where.append("vm_state = ANY(%s)")
        params.append(list(vm_states))
    if f.task_states:
        where.append("task_state = ANY(%s)")
        params.append(list(f.task_states))
    for tags, test in (
        (f.tags, "tags ?& %s"),
        (f.tags_any, "tags ?| %s"),
        (f.not_tags, "NOT tags ?& %s"),
        (f.not_tags_any, "NOT tags ?| %s"),
    ):
        if tags:
            where.append(test)
            params.append(list(tags))
    if marker is not None:
        where.append("(created_at, id) < (SELECT created_at, id FROM servers WHERE id=%s)")
        params.append(marker)
    sql = (
        f"SELECT {_SERVER_COLUMNS} FROM servers WHERE {' AND '.join(where) or 'true'} "
        "ORDER BY created_at DESC, id DESC LIMIT %s"
    )
    return Query(sql, [*params, limit])


def operations_in_flight(project_id: str) -> Query:
    """Instance operations accepted but not finished: in all, and the project's."""
    return Query(
        "SELECT count(*) AS total, count(*) FILTER (WHERE project_id=%s) AS project "
        "FROM servers WHERE task_state IS NOT NULL",
        (project_id,),
    )
