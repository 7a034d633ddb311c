"""Usage intervals (os-simple-tenant-usage): each stretch of an instance's
life from launch to deletion, split where its state or flavor changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.meters import Began, Opened, Redescribed, changes_of, topics_for
from domain.usage import Interval
from projections.reader import Query
from projections.view import ProjectionView


class UsageView(ProjectionView):
    """The instances' stretches, split where domain/meters.py's rules say
    (the billing replay follows the same rules, so the two agree)."""

    name = "usage"
    topics = topics_for("instance")
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

    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        # The projector feeds every view every event of the group's topics.
        for change in changes_of(event, "instance"):
            if isinstance(change, Opened):
                cur.execute(
                    "INSERT INTO usage_instances VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (change.resource_id, change.project_id, change.name, _flavor(change)),
                )
            elif isinstance(change, Redescribed):
                _redescribe(cur, change)
            elif isinstance(change, Began):
                _begin(cur, change.resource_id, change.state, change.at, change.only_if_open)
            else:
                _end(cur, change.resource_id, change.at)


def _flavor(change: Opened | Redescribed) -> Jsonb:
    """The sizes an interval keeps, under the names FlavorSnapshot gives them
    (rows written before the rules moved to domain/meters.py hold the whole
    snapshot; these keys are the ones read)."""
    q = change.quantities or {}
    return Jsonb(
        {
            "name": change.product,
            "vcpus": q["vcpus"],
            "ram_mb": q["ram_mb"],
            "disk_gb": q["root_gb"],
            "ephemeral_gb": q["ephemeral_gb"],
        }
    )


def _redescribe(cur: Cursor[DictRow], change: Redescribed) -> None:
    if change.name is not None:
        cur.execute(
            "UPDATE usage_instances SET name = %s WHERE instance_id = %s",
            (change.name, change.resource_id),
        )
    if change.quantities is not None:
        cur.execute(
            "UPDATE usage_instances SET flavor = %s WHERE instance_id = %s",
            (_flavor(change), change.resource_id),
        )


def _end(cur: Cursor[DictRow], instance_id: Any, at: datetime) -> int:
    cur.execute(
        "UPDATE usage_intervals SET ended_at = %s WHERE instance_id = %s AND ended_at IS NULL",
        (at, instance_id),
    )
    return cur.rowcount


def _begin(
    cur: Cursor[DictRow], instance_id: Any, state: str, at: datetime, only_if_open: bool = False
) -> None:
    """Close the open interval and open one in the new state. An instance
    that never launched uses nothing, so a failed build opens none."""
    if _end(cur, instance_id, at) == 0 and only_if_open:
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
