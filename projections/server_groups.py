"""The server groups read model (os-server-groups); members are the
group's servers that are not deleted."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.server_group import ServerGroup
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class ServerGroupsView(ProjectionView):
    name = "server_groups"
    topics = topics_of(ServerGroup.Created, ServerGroup.MemberAdded, ServerGroup.Deleted)
    ddl = (
        """CREATE TABLE IF NOT EXISTS server_groups (
            id uuid PRIMARY KEY, project_id text NOT NULL, user_id text NOT NULL,
            name text NOT NULL, policy text NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS server_group_members (
            group_id uuid NOT NULL, instance_id uuid NOT NULL,
            PRIMARY KEY (group_id, instance_id))""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: ServerGroup.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO server_groups VALUES (%s, %s, %s, %s, %s)",
            (e.originator_id, e.project_id, e.user_id, e.name, e.policy),
        )

    @apply.register
    def _(self, e: ServerGroup.MemberAdded, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO server_group_members VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.instance_id),
        )

    @apply.register
    def _(self, e: ServerGroup.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM server_groups WHERE id = %s", (e.originator_id,))
        cur.execute("DELETE FROM server_group_members WHERE group_id = %s", (e.originator_id,))


_COLUMNS = (
    "g.id::text AS id, g.project_id, g.user_id, g.name, g.policy,"
    " coalesce((SELECT array_agg(m.instance_id::text ORDER BY m.instance_id)"
    " FROM server_group_members m JOIN servers s ON s.id = m.instance_id"
    " WHERE m.group_id = g.id AND NOT s.deleted), '{}') AS members"
)


def groups(project_id: str | None) -> Query:
    """A project's groups, or every project's (None, for admins)."""
    if project_id is None:
        return Query(f"SELECT {_COLUMNS} FROM server_groups g ORDER BY g.name, g.id")
    return Query(
        f"SELECT {_COLUMNS} FROM server_groups g WHERE g.project_id = %s ORDER BY g.name, g.id",
        (project_id,),
    )


def group(group_id: Any) -> Query:
    return Query(f"SELECT {_COLUMNS} FROM server_groups g WHERE g.id = %s", (group_id,))
