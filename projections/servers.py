"""The servers read model: what GET /servers and /servers/detail return."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain import server_states
from domain.access_addresses import AccessAddressing
from domain.instance import Instance
from domain.instance_events import LIFECYCLE_EVENTS
from domain.instance_ports import Interfacing
from domain.power import POWER_ACTIONS
from domain.rebuild import Rebuilding
from domain.resize import Resizing
from domain.tags import Tagging
from domain.values import PowerState, TaskState, VmState
from projections.server_queries import (
    ServerFilters,
    operations_in_flight,
    server_by_id,
    servers_page,
)
from projections.view import ProjectionView, topics_of

# The queries live beside the view; importers find them here too.
__all__ = ["ServerFilters", "ServersView", "operations_in_flight", "server_by_id", "servers_page"]

_STATE_SQL = (
    "UPDATE servers SET vm_state=%s, task_state=NULL, power_state=%s, updated_at=%s{} WHERE id=%s"
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
        AccessAddressing.AccessAddressesSet,
        # A server's ports are shown from the ports view; tracked here so a
        # request that appends only these is answered once it is past them.
        Interfacing.PortsAssigned,
        Interfacing.InterfaceAttached,
        Interfacing.InterfaceDetached,
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
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS access_ipv4 text NOT NULL DEFAULT ''",
        "ALTER TABLE servers ADD COLUMN IF NOT EXISTS access_ipv6 text NOT NULL DEFAULT ''",
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
            "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                e.originator_id,
                e.project_id,
                e.user_id,
                e.name,
                e.image_id,
                Jsonb(flavor.__dict__),
                VmState.BUILDING.value,
                TaskState.SCHEDULING.value,
                PowerState.NOSTATE.value,
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
            "UPDATE servers SET host=%s, task_state=%s, updated_at=%s WHERE id=%s",
            (e.host, TaskState.SPAWNING.value, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.Spawned, cur: Cursor[DictRow]) -> None:
        self._state(cur, e, VmState.ACTIVE, PowerState.RUNNING, ", launched_at=%s")

    @apply.register
    def _(self, e: Instance.Failed, cur: Cursor[DictRow]) -> None:
        fault = {
            "message": e.message,  # the owner's short reason
            "code": e.code,
            "created": e.timestamp.isoformat(),
            "details": e.details,  # for admins (api/server_views.py)
        }
        cur.execute(
            "UPDATE servers SET vm_state=%s, task_state=NULL, fault=%s, updated_at=%s WHERE id=%s",
            (VmState.ERROR.value, Jsonb(fault), e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.StopRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.POWERING_OFF)

    @apply.register
    def _(self, e: Instance.Stopped, cur: Cursor[DictRow]) -> None:
        self._state(cur, e, VmState.STOPPED, PowerState.SHUTDOWN)

    @apply.register
    def _(self, e: Instance.StartRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.POWERING_ON)

    @apply.register
    def _(self, e: Instance.Started, cur: Cursor[DictRow]) -> None:
        self._state(cur, e, VmState.ACTIVE, PowerState.RUNNING)

    @apply.register
    def _(self, e: Instance.DeleteRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.DELETING)

    @apply.register
    def _(self, e: Instance.Deleted, cur: Cursor[DictRow]) -> None:
        self._state(cur, e, VmState.DELETED, PowerState.NOSTATE, ", deleted=true, terminated_at=%s")

    @apply.register
    def _(self, e: Instance.PowerActionRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, POWER_ACTIONS[e.action].task)

    @apply.register
    def _(self, e: Instance.PowerActionDone, cur: Cursor[DictRow]) -> None:
        done = POWER_ACTIONS[e.action]
        self._state(cur, e, done.ends_in, done.power)

    @apply.register
    def _(self, e: Instance.SnapshotRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.IMAGE_SNAPSHOT)

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

    @apply.register
    def _(self, e: AccessAddressing.AccessAddressesSet, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET access_ipv4=%s, access_ipv6=%s, updated_at=%s WHERE id=%s",
            (e.access_ipv4, e.access_ipv6, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Rebuilding.RebuildRequested, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET image_id=%s, task_state=%s, updated_at=%s WHERE id=%s",
            (e.image_id, TaskState.REBUILDING.value, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Rebuilding.Rebuilt, cur: Cursor[DictRow]) -> None:
        self._state(cur, e, server_states.left(e.running), server_states.running(e.running))

    # Resize (domain/resize.py) ----------------------------------------------

    @apply.register
    def _(self, e: Resizing.ResizeRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.RESIZE_PREP)

    @apply.register
    def _(self, e: Resizing.ResizeScheduled, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.RESIZE_MIGRATING)

    @apply.register
    def _(self, e: Resizing.ResizeRefused, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, None)

    @apply.register
    def _(self, e: Resizing.ResizeMigrated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET task_state=%s, power_state=%s, updated_at=%s WHERE id=%s",
            (
                TaskState.RESIZE_MIGRATED.value,
                PowerState.SHUTDOWN.value,
                e.timestamp,
                e.originator_id,
            ),
        )

    @apply.register
    def _(self, e: Resizing.ResizeFinished, cur: Cursor[DictRow]) -> None:
        self._moved(cur, e, VmState.RESIZED, e.running, e.host, e.flavor)

    @apply.register
    def _(self, e: Resizing.ResizeConfirmed, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE servers SET vm_state=%s, updated_at=%s WHERE id=%s",
            (server_states.left(e.running).value, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Resizing.RevertRequested, cur: Cursor[DictRow]) -> None:
        self._task(cur, e, TaskState.RESIZE_REVERTING)

    @apply.register
    def _(self, e: Resizing.ResizeReverted, cur: Cursor[DictRow]) -> None:
        self._moved(cur, e, server_states.left(e.running), e.running, e.host, e.flavor)

    @staticmethod
    def _state(
        cur: Cursor[DictRow], e: Any, vm_state: VmState, power: PowerState, at: str = ""
    ) -> None:
        """A task ended: the server is in ``vm_state``, its guest in ``power``;
        ``at`` sets one more column (``, launched_at=%s``) to the event's time."""
        times = (e.timestamp, e.timestamp) if at else (e.timestamp,)
        cur.execute(_STATE_SQL.format(at), (vm_state.value, power.value, *times, e.originator_id))

    @staticmethod
    def _moved(
        cur: Cursor[DictRow], e: Any, vm_state: VmState, running: bool, host: str, flavor: Any
    ) -> None:
        cur.execute(
            "UPDATE servers SET vm_state=%s, task_state=NULL, power_state=%s, host=%s, "
            "flavor=%s, updated_at=%s WHERE id=%s",
            (
                vm_state.value,
                server_states.running(running).value,
                host,
                Jsonb(flavor.__dict__),
                e.timestamp,
                e.originator_id,
            ),
        )

    @staticmethod
    def _task(cur: Cursor[DictRow], e: Any, task: TaskState | None) -> None:
        cur.execute(
            "UPDATE servers SET task_state=%s, updated_at=%s WHERE id=%s",
            (task.value if task else None, e.timestamp, e.originator_id),
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
