"""The image list as Glance serves it: who sees what, filters, sorting and
keyset paging, as one parameterised query on the images read model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from projections.reader import Query

# Sort keys and the expression each sorts by ({t} is the table's alias);
# size is NULL until uploaded, so it sorts as -1 and keyset paging holds.
SORT_KEYS = {
    "name": "{t}.name",
    "status": "{t}.status",
    "visibility": "{t}.visibility",
    "owner": "{t}.owner",
    "disk_format": "{t}.disk_format",
    "container_format": "{t}.container_format",
    "size": "COALESCE({t}.size, -1)",
    "min_disk": "{t}.min_disk",
    "min_ram": "{t}.min_ram",
    "created_at": "{t}.created_at",
    "updated_at": "{t}.updated_at",
    "id": "{t}.id",
}
# Filters on a column's value, one or any of several (Glance's ``in:a,b``).
EXACT = ("id", "name", "status", "owner", "disk_format", "container_format")
OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
VISIBILITY_FILTERS = ("public", "private", "shared", "community", "all")
MEMBER_STATUS_FILTERS = ("accepted", "pending", "rejected", "all")


@dataclass
class ImageListing:
    """A validated list request (api/image_filters.py builds it from the query)."""

    project_id: str
    is_admin: bool
    limit: int = 1000
    exact: dict[str, list[Any]] = field(default_factory=dict)  # column -> any of these
    visibility: str | None = None
    member_status: str = "accepted"
    tags: list[str] = field(default_factory=list)
    size_min: int | None = None
    size_max: int | None = None
    times: list[tuple[str, str, datetime]] = field(default_factory=list)  # column, op, when
    properties: dict[str, str] = field(default_factory=dict)
    protected: bool | None = None
    os_hidden: bool = False
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    marker: UUID | None = None


def _member_of(q: ImageListing, params: list[Any]) -> str:
    """The caller is a member of the shared image (with the asked status)."""
    params.append(q.project_id)
    sql = "EXISTS (SELECT 1 FROM image_members m WHERE m.image_id=i.id AND m.member_id=%s"
    if q.member_status != "all":
        params.append(q.member_status)
        sql += " AND m.status=%s"
    return sql + ")"


def _who_sees(q: ImageListing, params: list[Any]) -> str:
    """Glance's default list: the project's own, public, and shared images it
    accepted (or with the asked member_status); community images only when
    asked for (or its own)."""
    if q.visibility in ("public", "community") or (q.is_admin and q.visibility):
        if q.visibility == "all":
            return "TRUE"
        params.append(q.visibility)
        return "i.visibility=%s"
    params.append(q.project_id)
    if q.is_admin:  # everything but others' community images, by default
        return "(i.visibility<>'community' OR i.owner=%s)"
    if q.visibility == "private":
        return "(i.owner=%s AND i.visibility='private')"
    if q.visibility == "shared":
        return f"(i.visibility='shared' AND (i.owner=%s OR {_member_of(q, params)}))"
    community = " OR i.visibility='community'" if q.visibility == "all" else ""
    shared = f"(i.visibility='shared' AND {_member_of(q, params)})"
    return f"(i.owner=%s OR i.visibility='public'{community} OR {shared})"


def _keyset(sort: list[tuple[str, str]], marker: UUID, params: list[Any]) -> str:
    """Rows after the marker in the sort order (its last key is the id)."""
    clauses = []
    for n, (key, direction) in enumerate(sort):
        equal = [
            f"{SORT_KEYS[k].format(t='i')} = {SORT_KEYS[k].format(t='mk')}" for k, _ in sort[:n]
        ]
        op = ">" if direction == "asc" else "<"
        after = f"{SORT_KEYS[key].format(t='i')} {op} {SORT_KEYS[key].format(t='mk')}"
        clauses.append(" AND ".join([*equal, after]))
    params.append(marker)
    return (
        "EXISTS (SELECT 1 FROM images mk WHERE mk.id=%s AND ("
        + " OR ".join(f"({c})" for c in clauses)
        + "))"
    )


def image_list(q: ImageListing) -> Query:
    params: list[Any] = []
    where = ["i.status <> 'deleted'", _who_sees(q, params)]
    for key, values in q.exact.items():
        if key in EXACT:  # column names only from the fixed list
            where.append(f"i.{key} = ANY(%s)")
            params.append(values)
    for tag in q.tags:
        where.append("i.tags @> %s")
        params.append(Jsonb([tag]))
    if q.size_min is not None:
        where.append("i.size >= %s")
        params.append(q.size_min)
    if q.size_max is not None:
        where.append("i.size <= %s")
        params.append(q.size_max)
    for column, op, when in q.times:
        if column in ("created_at", "updated_at") and op in OPERATORS:
            where.append(f"i.{column} {OPERATORS[op]} %s")
            params.append(when)
    for key, value in q.properties.items():
        where.append("i.properties ->> %s = %s")
        params.extend([key, value])
    if q.protected is not None:
        where.append("i.protected = %s")
        params.append(q.protected)
    where.append("i.os_hidden = %s")
    params.append(q.os_hidden)
    sort = [*[(k, d) for k, d in q.sort if k != "id"], ("id", q.sort[-1][1])]
    if q.marker is not None:
        where.append(_keyset(sort, q.marker, params))
    order = ", ".join(
        f"{SORT_KEYS[k].format(t='i')} {'ASC' if d == 'asc' else 'DESC'}" for k, d in sort
    )
    sql = f"SELECT i.* FROM images i WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    return Query(sql, [*params, q.limit])
