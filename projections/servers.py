"""The servers read model: what GET /servers and /servers/detail return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.instance import Instance
from domain.instance_events import LIFECYCLE_EVENTS
from domain.power import POWER_ACTIONS
from domain.resize import Resizing
from domain.tags import Tagging
from projections.reader import Query
from projections.view import ProjectionView, topics_of

_STATE_SQL = (
    "UPDATE servers SET vm_state=%s, task_state=%s, power_state=%s, updated_at=%s WHERE id=%s"
)


class ServersView(ProjectionView):
    """One row per instance; deleted ones are kept (flagged) for usage reports."""

    name = "servers"
    topics = topics_of(
        *LIFECYCLE_EVENTS,
        Instance.MetadataChanged,
        Instance.Updated,
        Instance.Locked,
        Instance.Unlocked,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS servers (
            id uuid PRIMARY KEY, project_id text NOT NULL, user_id text NOT NULL,
            name text NOT NULL, image_id text NOT NULL, flavor jsonb NOT NULL,
            vm_state text NOT NULL, task_state text, power_state text NOT NULL,
            host text, fault jsonb, created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, launched_at timestamptz,
            terminated_at timestamptz, deleted boolean NOT NULL DEFAULT false)""",
        "CREATE INDEX IF NOT EXISTS servers_by_project "
        "ON servers (project_id, created_at DESC, id) WHERE NOT deleted",
        # Added with keypairs and metadata; rows from before hold none.
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS key_name text",
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS metadata jsonb NOT NULL DEFAULT '{}'",
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS description text",
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS locked boolean NOT NULL DEFAULT false",
        # The zone asked for at boot ("" for any); shown until a host is chosen.
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS availability_zone text NOT NULL DEFAULT ''",
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS tags jsonb NOT NULL DEFAULT '[]'",
        # The public key the guest gets from the metadata service.
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS key_data text",
        # Work accepted but not finished, for admission control.
        "CREATE INDEX IF NOT EXISTS servers_in_flight "
        "ON servers (project_id) WHERE task_state IS NOT NULL",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Instance.Requested, cur: Cursor[DictRow]) -> None:
        flavor = e.flavor
        cur.execute(
            "INSERT INTO servers (id, project_id, user_id, name, image_id, flavor, "
            "vm_state, task_state, power_state, created_at, updated_at, key_name, metadata, "
            "description, availability_zone, key_data) VALUES "
            "(%s,%s,%s,%s,%s,%s,'building','scheduling','nostate',%s,%s,%s,%s,%s,%s,%s)",
            (
                e.originator_id,
                e.project_id,
                e.user_id,
                e.name,
                e.image_id,
                Jsonb(flavor.__dict__),
                e.timestamp,
                e.timestamp,
                e.key_name or None,
                Jsonb(e.metadata or {}),
                e.description or None,
                e.availability_zone,
                e.key_data or None,
            ),
        )

    @apply.register
    def _(self, e: Instance.Scheduled, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET host=%s, task_state='spawning', updated_at=%s WHERE id=%s",
            (e.host, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.Spawned, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET vm_state='active', task_state=NULL, power_state='running', "
            "updated_at=%s, launched_at=%s WHERE id=%s",
            (e.timestamp, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.Failed, cur: Cursor[DictRow]) -> None:
        fault = {
            "message": e.message,
            "code": e.code,
            "created": e.timestamp.isoformat(),
        }
        cur.execute(
            "UPDATE servers SET vm_state='error', task_state=NULL, fault=%s, updated_at=%s "
            "WHERE id=%s",
            (Jsonb(fault), e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.StopRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "powering-off")

    @apply.register
    def _(self, e: Instance.Stopped, cur: Cursor[DictRow]) -> None:
        cur.execute(_STATE_SQL, ("stopped", None, "shutdown", e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Instance.StartRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "powering-on")

    @apply.register
    def _(self, e: Instance.Started, cur: Cursor[DictRow]) -> None:
        cur.execute(_STATE_SQL, ("active", None, "running", e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Instance.DeleteRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "deleting")

    @apply.register
    def _(self, e: Instance.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET vm_state='deleted', task_state=NULL, power_state='nostate', "
            "deleted=true, terminated_at=%s, updated_at=%s WHERE id=%s",
            (e.timestamp, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.PowerActionRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, POWER_ACTIONS[e.action].task.value)

    @apply.register
    def _(self, e: Instance.PowerActionDone, cur: Cursor[DictRow]) -> None:
        done = POWER_ACTIONS[e.action]
        cur.execute(
            _STATE_SQL, (done.ends_in.value, None, done.power.value, e.timestamp, e.originator_id)
        )

    @apply.register
    def _(self, e: Instance.SnapshotRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "image_snapshot")

    @apply.register
    def _(self, e: Instance.SnapshotDone, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, None)

    @apply.register
    def _(self, e: Instance.Locked, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE servers SET locked=true WHERE id=%s", (e.originator_id,))

    @apply.register
    def _(self, e: Instance.Unlocked, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE servers SET locked=false WHERE id=%s", (e.originator_id,))

    @apply.register
    def _(self, e: Instance.MetadataChanged, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET metadata=%s, updated_at=%s WHERE id=%s",
            (Jsonb(e.metadata), e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET name=%s, description=%s, updated_at=%s WHERE id=%s",
            (e.name, e.description or None, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Tagging.TagsSet, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET tags=%s, updated_at=%s WHERE id=%s",
            (Jsonb(e.tags), e.timestamp, e.originator_id),
        )

    # Resize (domain/resize.py) ----------------------------------------------

    @apply.register
    def _(self, e: Resizing.ResizeRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "resize_prep")

    @apply.register
    def _(self, e: Resizing.ResizeScheduled, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "resize_migrating")

    @apply.register
    def _(self, e: Resizing.ResizeRefused, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, None)

    @apply.register
    def _(self, e: Resizing.ResizeMigrated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET task_state='resize_migrated', power_state='shutdown', "
            "updated_at=%s WHERE id=%s",
            (e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Resizing.ResizeFinished, cur: Cursor[DictRow]) -> None:
        self._moved(cur, e, "resized", e.running, e.host, e.flavor)

    @apply.register
    def _(self, e: Resizing.ResizeConfirmed, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET vm_state=%s, updated_at=%s WHERE id=%s",
            ("active" if e.running else "stopped", e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Resizing.RevertRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, "resize_reverting")

    @apply.register
    def _(self, e: Resizing.ResizeReverted, cur: Cursor[DictRow]) -> None:
        self._moved(cur, e, "active" if e.running else "stopped", e.running, e.host, e.flavor)

    @staticmethod
    def _moved(
        cur: Cursor[DictRow], e: Any, vm_state: str, running: bool, host: str, flavor: Any
    ) -> None:
        cur.execute(
            "UPDATE servers SET vm_state=%s, task_state=NULL, power_state=%s, host=%s, "
            "flavor=%s, updated_at=%s WHERE id=%s",
            (
                vm_state,
                "running" if running else "shutdown",
                host,
                Jsonb(flavor.__dict__),
                e.timestamp,
                e.originator_id,
            ),
        )

    @staticmethod
    def _task(cur: Cursor[DictRow], e: Any, task: str | None) -> None:
        cur.execute(
            "UPDATE servers SET task_state=%s, updated_at=%s WHERE id=%s",
            (task, e.timestamp, e.originator_id),
        )

    def get(self, server_id: UUID) -> DictRow | None:
        return self.fetch_one(server_by_id(server_id))

    def list_servers(
        self,
        project_id: str | None,
        limit: int,
        marker: UUID | None = None,
        name_contains: str | None = None,
        vm_states: tuple[str, ...] = (),
    ) -> list[DictRow]:
        return self.fetch_all(servers_page(project_id, limit, marker, name_contains, vm_states))


# Queries (run by the view above, and by the API on its asyncio pool) -------


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
    if f.host is not None:
        where.append("host = %s")
        params.append(f.host)
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
