"""The volume snapshots read model (GET /snapshots/detail), and the volume
types admins created (the default type is domain/volume_type.py's own)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.volume_snapshot import VolumeSnapshot
from domain.volume_type import VolumeType
from domain.volume_values import SnapshotStatus
from projections.reader import Query
from projections.view import ProjectionView, topics_of
from projections.volume_queries import cinder_time

_SET_STATUS = "UPDATE volume_snapshots SET status=%s, updated_at=%s WHERE id=%s"


class VolumeSnapshotsView(ProjectionView):
    """One row per snapshot (deleted ones kept, flagged); one per created type."""

    name = "volume_snapshots"
    topics = topics_of(
        VolumeSnapshot.Requested,
        VolumeSnapshot.Made,
        VolumeSnapshot.Failed,
        VolumeSnapshot.DeleteRequested,
        VolumeSnapshot.Deleted,
        VolumeSnapshot.DeleteFailed,
        VolumeSnapshot.Updated,
        VolumeSnapshot.MetadataChanged,
        VolumeSnapshot.StatusReset,
        VolumeType.Created,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS volume_snapshots (
            id uuid PRIMARY KEY, project_id text NOT NULL, user_id text NOT NULL,
            volume_id text NOT NULL, name text NOT NULL, description text NOT NULL,
            size integer NOT NULL, status text NOT NULL, metadata jsonb NOT NULL,
            fault text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            deleted boolean NOT NULL DEFAULT false)""",
        "CREATE INDEX IF NOT EXISTS volume_snapshots_by_project "
        "ON volume_snapshots (project_id, created_at DESC, id) WHERE NOT deleted",
        """CREATE TABLE IF NOT EXISTS volume_types (
            id uuid PRIMARY KEY, name text NOT NULL, description text NOT NULL,
            is_public boolean NOT NULL, extra_specs jsonb NOT NULL,
            created_at timestamptz NOT NULL)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: VolumeSnapshot.Requested, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO volume_snapshots (id, project_id, user_id, volume_id, name,"
            " description, size, status, metadata, created_at, updated_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                e.originator_id,
                e.project_id,
                e.user_id,
                e.volume_id,
                e.name,
                e.description,
                e.size,
                SnapshotStatus.CREATING.value,
                Jsonb(e.metadata),
                e.timestamp,
                e.timestamp,
            ),
        )

    @apply.register
    def _(self, e: VolumeSnapshot.Made, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (SnapshotStatus.AVAILABLE.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: VolumeSnapshot.Failed, cur: Cursor[DictRow]) -> None:
        self._fault(cur, e, SnapshotStatus.ERROR, e.message)

    @apply.register
    def _(self, e: VolumeSnapshot.DeleteRequested, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (SnapshotStatus.DELETING.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: VolumeSnapshot.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volume_snapshots SET deleted=true, updated_at=%s WHERE id=%s",
            (e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: VolumeSnapshot.DeleteFailed, cur: Cursor[DictRow]) -> None:
        self._fault(cur, e, SnapshotStatus.ERROR_DELETING, e.message)

    @apply.register
    def _(self, e: VolumeSnapshot.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volume_snapshots SET name=%s, description=%s, updated_at=%s WHERE id=%s",
            (e.name, e.description, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: VolumeSnapshot.MetadataChanged, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volume_snapshots SET metadata=%s, updated_at=%s WHERE id=%s",
            (Jsonb(e.metadata), e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: VolumeSnapshot.StatusReset, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (e.status, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: VolumeType.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO volume_types (id, name, description, is_public, extra_specs,"
            " created_at) VALUES (%s,%s,%s,%s,%s,%s)",
            (
                e.originator_id,
                e.name,
                e.description,
                e.is_public,
                Jsonb(e.extra_specs),
                e.timestamp,
            ),
        )

    @staticmethod
    def _fault(cur: Cursor[DictRow], e: Any, status: SnapshotStatus, message: str) -> None:
        cur.execute(
            "UPDATE volume_snapshots SET status=%s, fault=%s, updated_at=%s WHERE id=%s",
            (status.value, message, e.timestamp, e.originator_id),
        )


SNAPSHOT_COLUMNS = ", ".join(
    [
        "id::text AS id, project_id, user_id, volume_id, name, description, size, status",
        "metadata",
        cinder_time("created_at", "created"),
        cinder_time("updated_at", "updated"),
    ]
)
SNAPSHOT_SORTS = {"id", "name", "status", "size", "created_at", "updated_at", "volume_id"}


def snapshot_by_id(snapshot_id: UUID) -> Query:
    return Query(
        f"SELECT {SNAPSHOT_COLUMNS} FROM volume_snapshots WHERE id=%s AND NOT deleted",
        (snapshot_id,),
    )


def snapshots_page(
    project_id: str | None,
    limit: int,
    filters: dict[str, Any],
    sort: Sequence[tuple[str, str]],
    marker: UUID | None = None,
    offset: int = 0,
) -> Query:
    """Exact filters on name, status, volume_id; metadata pairs all present."""
    where, params = ["NOT deleted"], list[Any]()
    if project_id is not None:
        where.append("project_id = %s")
        params.append(project_id)
    for column in ("name", "status", "volume_id"):
        if filters.get(column) is not None:
            where.append(f"{column} = %s")
            params.append(filters[column])
    if filters.get("metadata"):
        where.append("metadata @> %s::jsonb")
        params.append(Jsonb(filters["metadata"]))
    keys = [(k, d) for k, d in sort if k in SNAPSHOT_SORTS] or [("created_at", "desc")]
    if not any(k == "id" for k, _ in keys):
        keys.append(("id", keys[-1][1]))
    if marker is not None:
        alternatives = []
        for n, (column, direction) in enumerate(keys):
            same = [f"{c} = (SELECT {c} FROM volume_snapshots WHERE id = %s)" for c, _ in keys[:n]]
            beyond = ">" if direction == "asc" else "<"
            test = f"{column} {beyond} (SELECT {column} FROM volume_snapshots WHERE id = %s)"
            alternatives.append("(" + " AND ".join([*same, test]) + ")")
            params.extend([marker] * (n + 1))
        where.append("(" + " OR ".join(alternatives) + ")")
    order = ", ".join(f"{c} {d.upper()}" for c, d in keys)
    return Query(
        f"SELECT {SNAPSHOT_COLUMNS} FROM volume_snapshots WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )


TYPE_COLUMNS = "id::text AS id, name, description, is_public, extra_specs"


def volume_types() -> Query:
    return Query(f"SELECT {TYPE_COLUMNS} FROM volume_types ORDER BY name")


def volume_type_by(id_or_name: UUID | str) -> Query:
    if isinstance(id_or_name, UUID):
        return Query(f"SELECT {TYPE_COLUMNS} FROM volume_types WHERE id=%s", (id_or_name,))
    return Query(f"SELECT {TYPE_COLUMNS} FROM volume_types WHERE name=%s", (id_or_name,))
