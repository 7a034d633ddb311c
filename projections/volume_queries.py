"""Queries on the volumes read model (projections/volumes.py), run by the
API on its asyncio pool: a volume, a page of volumes with Cinder's filters
and sorts, the volumes of servers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from projections.reader import Query


def cinder_time(column: str, name: str) -> str:
    """Cinder's timestamp text: UTC, microseconds, no zone (NULL stays NULL)."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS {name}"""


# Cinder lists only attachments that are (still) attached.
_ATTACHMENTS = (
    "(SELECT coalesce(jsonb_agg(jsonb_build_object("
    "'attachment_id', a.attachment_id::text, 'server_id', a.server_id::text,"
    " 'host_name', a.host, 'device', a.device, 'attached_at',"
    """ to_char(a.attached_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))"""
    " ORDER BY a.created_at), '[]'::jsonb) FROM volume_attachments a"
    " WHERE a.volume_id = volumes.id AND a.status IN ('attached', 'detaching')) AS attachments"
)
VOLUME_COLUMNS = ", ".join(
    [
        "id::text AS id, project_id, user_id, name, description, size, status",
        "availability_zone, volume_type_id, volume_type_name, multiattach, bootable, readonly",
        "readonly_set",
        "source_kind, source_id, metadata, image_metadata, host, snapshots",
        cinder_time("created_at", "created"),
        cinder_time("updated_at", "updated"),
        _ATTACHMENTS,
    ]
)

# The sort keys a request may name (Cinder's "name" is its display_name).
SORT_COLUMNS = {
    "id": "id",
    "name": "name",
    "display_name": "name",
    "status": "status",
    "size": "size",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "availability_zone": "availability_zone",
    "bootable": "bootable",
    "volume_type": "volume_type_name",
}
DEFAULT_SORT = (("created_at", "desc"),)


@dataclass(frozen=True)
class VolumeFilters:
    """Cinder's volume filters, each exact unless said otherwise."""

    name: str | None = None
    name_contains: str | None = None  # Cinder's "name~" (3.34)
    status: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)  # every pair present
    availability_zone: str | None = None
    bootable: bool | None = None
    size: int | None = None


def volume_by_id(volume_id: UUID) -> Query:
    return Query(f"SELECT {VOLUME_COLUMNS} FROM volumes WHERE id=%s AND NOT deleted", (volume_id,))


def volumes_page(
    project_id: str | None,
    limit: int,
    filters: VolumeFilters,
    sort: Sequence[tuple[str, str]] = DEFAULT_SORT,
    marker: UUID | None = None,
    offset: int = 0,
) -> Query:
    """``project_id`` None: every project (an admin's all_tenants). Sorted by
    ``sort`` (keys of SORT_COLUMNS, "asc"/"desc") with the id last, so pages
    never overlap; ``marker`` is the last volume of the previous page."""
    where, params = _where(project_id, filters)
    keys = [(SORT_COLUMNS[key], direction) for key, direction in sort]
    if not any(column == "id" for column, _ in keys):
        keys.append(("id", keys[-1][1] if keys else "desc"))
    if marker is not None:
        after, after_params = _after(keys, marker)
        where.append(after)
        params.extend(after_params)
    order = ", ".join(f"{column} {direction.upper()}" for column, direction in keys)
    sql = (
        f"SELECT {VOLUME_COLUMNS}, count(*) OVER () AS total FROM volumes"
        f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s OFFSET %s"
    )
    return Query(sql, [*params, limit, offset])


def volumes_summary(project_id: str | None) -> Query:
    """Cinder's volume summary: how many volumes, how many GiB, and each
    metadata key with its distinct values."""
    where, params = _where(project_id, VolumeFilters())
    return Query(
        f"WITH v AS (SELECT size, metadata FROM volumes WHERE {' AND '.join(where)})"
        " SELECT (SELECT count(*) FROM v) AS total_count,"
        " (SELECT coalesce(sum(size), 0) FROM v) AS total_size,"
        " (SELECT coalesce(jsonb_object_agg(k, vs), '{}'::jsonb) FROM"
        " (SELECT m.key AS k, jsonb_agg(DISTINCT m.value) AS vs"
        " FROM v, jsonb_each_text(v.metadata) m GROUP BY m.key) AS g) AS metadata",
        params,
    )


def _where(project_id: str | None, f: VolumeFilters) -> tuple[list[str], list[Any]]:
    where, params = ["NOT deleted"], list[Any]()
    tests: list[tuple[str, Any]] = [
        ("project_id = %s", project_id),
        ("name = %s", f.name),
        ("strpos(name, %s) > 0", f.name_contains),
        ("status = %s", f.status),
        ("availability_zone = %s", f.availability_zone),
        ("bootable = %s", f.bootable),
        ("size = %s", f.size),
    ]
    for test, value in tests:
        if value is not None:
            where.append(test)
            params.append(value)
    if f.metadata:
        where.append("metadata @> %s::jsonb")
        params.append(Jsonb(dict(f.metadata)))
    return where, params


def _after(keys: Sequence[tuple[str, str]], marker: UUID) -> tuple[str, list[Any]]:
    """Rows after the marker's in this order: (k1 beyond) or (k1 same and k2
    beyond) ..., each key compared with the marker row's own value."""
    alternatives, params = [], list[Any]()
    for n, (column, direction) in enumerate(keys):
        same = [f"{c} = (SELECT {c} FROM volumes WHERE id = %s)" for c, _ in keys[:n]]
        beyond = ">" if direction == "asc" else "<"
        test = f"{column} {beyond} (SELECT {column} FROM volumes WHERE id = %s)"
        alternatives.append("(" + " AND ".join([*same, test]) + ")")
        params.extend([marker] * (n + 1))
    return "(" + " OR ".join(alternatives) + ")", params


def exports_of(host: str) -> Query:
    """What the storage host ``host`` must export: every volume it made that
    is not deleted (nor being deleted), with the attachments let in and not
    unplugged since: their initiators are its ACL."""
    return Query(
        "SELECT v.id::text AS id, coalesce(array_agg(a.attachment_id::text ORDER BY a.created_at)"
        " FILTER (WHERE a.access AND NOT a.unplugged), '{}') AS attachments"
        " FROM volumes v LEFT JOIN volume_attachments a ON a.volume_id = v.id"
        " WHERE v.host = %s AND NOT v.deleted AND v.status <> 'deleting'"
        " GROUP BY v.id ORDER BY v.id",
        (host,),
    )
