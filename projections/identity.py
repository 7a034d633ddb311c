"""The identity read model: projects, users and role assignments, for
Keystone's list and show routes. (Logins read the aggregates themselves.)"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.identity import Project, User
from projections.reader import Query
from projections.view import ProjectionView, topics_of

# Every project and user lives in Keystone's default domain so far.
DEFAULT_DOMAIN = "default"


class IdentityView(ProjectionView):
    name = "identity"
    topics = topics_of(Project.Created, User.Created, User.RoleGranted)
    ddl = (
        """CREATE TABLE IF NOT EXISTS identity_projects (
            id text PRIMARY KEY, name text NOT NULL, domain_id text NOT NULL,
            description text NOT NULL, enabled boolean NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS identity_users (
            id text PRIMARY KEY, name text NOT NULL, domain_id text NOT NULL,
            default_project_id text, enabled boolean NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS identity_assignments (
            user_id text NOT NULL, project_id text NOT NULL, role text NOT NULL,
            PRIMARY KEY (user_id, project_id, role))""",
        "CREATE INDEX IF NOT EXISTS identity_assignments_by_project "
        "ON identity_assignments (project_id)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Project.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO identity_projects VALUES (%s, %s, %s, %s, true)",
            (e.originator_id.hex, e.name, DEFAULT_DOMAIN, e.description),
        )

    @apply.register
    def _(self, e: User.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO identity_users VALUES (%s, %s, %s, %s, true)",
            (e.originator_id.hex, e.name, DEFAULT_DOMAIN, e.default_project_id or None),
        )

    @apply.register
    def _(self, e: User.RoleGranted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO identity_assignments VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (e.originator_id.hex, e.project_id, e.role),
        )


# Queries (run by the API on its asyncio pool) -------------------------------


def projects(name: str | None = None) -> Query:
    if name is None:
        return Query("SELECT * FROM identity_projects ORDER BY name")
    return Query("SELECT * FROM identity_projects WHERE name = %s ORDER BY name", (name,))


def project_by_id(project_id: str) -> Query:
    return Query("SELECT * FROM identity_projects WHERE id = %s", (project_id,))


def users(name: str | None = None) -> Query:
    if name is None:
        return Query("SELECT * FROM identity_users ORDER BY name")
    return Query("SELECT * FROM identity_users WHERE name = %s ORDER BY name", (name,))


def user_by_id(user_id: str) -> Query:
    return Query("SELECT * FROM identity_users WHERE id = %s", (user_id,))


def assignments(user_id: str | None = None, project_id: str | None = None) -> Query:
    """Role assignments with the names of their user and project."""
    where, params = ["true"], list[Any]()
    if user_id is not None:
        where.append("a.user_id = %s")
        params.append(user_id)
    if project_id is not None:
        where.append("a.project_id = %s")
        params.append(project_id)
    return Query(
        "SELECT a.user_id, a.project_id, a.role, u.name AS user_name, p.name AS project_name"
        " FROM identity_assignments a"
        " LEFT JOIN identity_users u ON u.id = a.user_id"
        " LEFT JOIN identity_projects p ON p.id = a.project_id"
        f" WHERE {' AND '.join(where)} ORDER BY u.name, p.name, a.role",
        params,
    )
