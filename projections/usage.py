"""Usage intervals (os-simple-tenant-usage): each stretch of an instance's
life from launch to deletion, split where its state changes."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.instance import Instance
from domain.power import POWER_ACTIONS
from domain.resize import Resizing
from domain.usage import Interval
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class UsageView(ProjectionView):
    name = "usage"
    topics = topics_of(
        Instance.Requested,
        Instance.Spawned,
        Instance.Stopped,
        Instance.Started,
        Instance.PowerActionDone,
        Instance.Failed,
        Instance.Deleted,
        Instance.Updated,
        Resizing.ResizeFinished,
        Resizing.ResizeConfirmed,
        Resizing.ResizeReverted,
    )
    ddl = (
        # What a later interval needs of the instance (its name and flavor).
        """CREATE TABLE IF NOT EXISTS usage_instances (
            instance_id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL,
            flavor jsonb NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS usage_intervals (
            instance_id uuid NOT NULL, state text NOT NULL, flavor jsonb NOT NULL,
            started_at timestamptz NOT NULL, ended_at timestamptz,
            PRIMARY KEY (instance_id, started_at))""",
        "CREATE INDEX IF NOT EXISTS usage_intervals_by_time ON usage_intervals (started_at)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Instance.Requested, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO usage_instances VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.project_id, e.name, Jsonb(e.flavor.__dict__)),
        )

    @apply.register
    def _(self, e: Instance.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE usage_instances SET name = %s WHERE instance_id = %s",
            (e.name, e.originator_id),
        )

    @apply.register
    def _(self, e: Instance.Spawned, cur: Cursor[DictRow]) -> None:
        _begin(cur, e.originator_id, "active", e.launched_at)

    @apply.register
    def _(self, e: Instance.Stopped, cur: Cursor[DictRow]) -> None:
        _begin(cur, e.originator_id, "stopped", e.timestamp)

    @apply.register
    def _(self, e: Instance.Started, cur: Cursor[DictRow]) -> None:
        _begin(cur, e.originator_id, "active", e.timestamp)

    @apply.register
    def _(self, e: Instance.PowerActionDone, cur: Cursor[DictRow]) -> None:
        _begin(cur, e.originator_id, POWER_ACTIONS[e.action].ends_in.value, e.timestamp)

    @apply.register
    def _(self, e: Instance.Failed, cur: Cursor[DictRow]) -> None:
        _begin(cur, e.originator_id, "error", e.timestamp, only_if_running=True)

    @apply.register
    def _(self, e: Instance.Deleted, cur: Cursor[DictRow]) -> None:
        _end(cur, e.originator_id, e.timestamp)

    # A resize prices the instance at the new flavor from the moment the
    # destination runs it, and a revert at the old one again from its end.

    @apply.register
    def _(self, e: Resizing.ResizeFinished, cur: Cursor[DictRow]) -> None:
        _set_flavor(cur, e.originator_id, e.flavor)
        _begin(cur, e.originator_id, "resized", e.timestamp)

    @apply.register
    def _(self, e: Resizing.ResizeConfirmed, cur: Cursor[DictRow]) -> None:
        _begin(cur, e.originator_id, "active" if e.running else "stopped", e.timestamp)

    @apply.register
    def _(self, e: Resizing.ResizeReverted, cur: Cursor[DictRow]) -> None:
        _set_flavor(cur, e.originator_id, e.flavor)
        _begin(cur, e.originator_id, "active" if e.running else "stopped", e.timestamp)


def _set_flavor(cur: Cursor[DictRow], instance_id: Any, flavor: Any) -> None:
    cur.execute(
        "UPDATE usage_instances SET flavor = %s WHERE instance_id = %s",
        (Jsonb(flavor.__dict__), instance_id),
    )


def _end(cur: Cursor[DictRow], instance_id: Any, at: datetime) -> int:
    cur.execute(
        "UPDATE usage_intervals SET ended_at = %s WHERE instance_id = %s AND ended_at IS NULL",
        (at, instance_id),
    )
    return cur.rowcount


def _begin(
    cur: Cursor[DictRow], instance_id: Any, state: str, at: datetime, only_if_running: bool = False
) -> None:
    """Close the open interval and open one in the new state. An instance
    that never launched uses nothing, so a failed build opens none."""
    if _end(cur, instance_id, at) == 0 and only_if_running:
        return
    cur.execute(
        "INSERT INTO usage_intervals SELECT instance_id, %s, flavor, %s, NULL"
        " FROM usage_instances WHERE instance_id = %s ON CONFLICT DO NOTHING",
        (state, at, instance_id),
    )


def intervals(start: datetime, stop: datetime, project_id: str | None = None) -> Query:
    """The intervals overlapping [start, stop), of one project or all."""
    sql = (
        "SELECT u.instance_id::text AS instance_id, u.project_id, u.name, i.state, i.flavor,"
        " i.started_at, i.ended_at FROM usage_intervals i"
        " JOIN usage_instances u USING (instance_id)"
        " WHERE i.started_at < %s AND (i.ended_at IS NULL OR i.ended_at > %s)"
    )
    params: list[Any] = [stop, start]
    if project_id is not None:
        sql += " AND u.project_id = %s"
        params.append(project_id)
    return Query(sql + " ORDER BY i.started_at", params)


def instance_project(instance_id: UUID) -> Query:
    """An instance's project, if it was ever requested: a usage page's marker."""
    return Query(
        "SELECT instance_id::text AS instance_id, project_id FROM usage_instances"
        " WHERE instance_id = %s",
        (instance_id,),
    )


def as_interval(row: DictRow) -> Interval:
    flavor = row["flavor"]
    return Interval(
        instance_id=row["instance_id"],
        project_id=row["project_id"],
        name=row["name"],
        state=row["state"],
        vcpus=flavor["vcpus"],
        ram_mb=flavor["ram_mb"],
        disk_gb=flavor["disk_gb"] + flavor["ephemeral_gb"],
        flavor_name=flavor["name"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )
