"""The directory read model: domains, projects, users, roles and role
assignments, for Keystone's list and show routes. (Logins read the
aggregates themselves.) Its tables are new with domains: the view, named
"directory", replays the log from the start to fill them."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.domains import Domain, Role
from domain.identity import Project, User
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class IdentityView(ProjectionView):
    name = "directory"
    topics = topics_of(
        Domain.Created,
        Domain.Updated,
        Domain.Deleted,
        Project.Created,
        Project.Updated,
        Project.Deleted,
        User.Created,
        User.Updated,
        User.Deleted,
        User.RoleGranted,
        User.RoleRevoked,
        User.DomainRoleGranted,
        User.DomainRoleRevoked,
        Role.Created,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS directory_domains (
            id text PRIMARY KEY, name text NOT NULL, description text NOT NULL,
            enabled boolean NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS directory_projects (
            id text PRIMARY KEY, name text NOT NULL, domain_id text NOT NULL,
            description text NOT NULL, enabled boolean NOT NULL, tags text[] NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS directory_users (
            id text PRIMARY KEY, name text NOT NULL, domain_id text NOT NULL,
            default_project_id text, enabled boolean NOT NULL, email text NOT NULL,
            description text NOT NULL)""",
        # scope: 'project' or 'domain'; target_id: the project's or domain's id
        """CREATE TABLE IF NOT EXISTS directory_assignments (
            user_id text NOT NULL, scope text NOT NULL, target_id text NOT NULL,
            role text NOT NULL, PRIMARY KEY (user_id, scope, target_id, role))""",
        "CREATE INDEX IF NOT EXISTS directory_assignments_by_target "
        "ON directory_assignments (target_id)",
        """CREATE TABLE IF NOT EXISTS directory_roles (
            name text PRIMARY KEY, description text NOT NULL)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Domain.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO directory_domains VALUES (%s, %s, %s, true)",
            (e.domain_id, e.name, e.description),
        )

    @apply.register
    def _(self, e: Domain.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE directory_domains SET name = %s, description = %s, enabled = %s WHERE id = %s",
            (e.name, e.description, e.enabled, e.domain_id),
        )

    @apply.register
    def _(self, e: Domain.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM directory_domains WHERE id = %s", (e.domain_id,))

    @apply.register
    def _(self, e: Project.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO directory_projects VALUES (%s, %s, %s, %s, true, %s)",
            (e.originator_id.hex, e.name, e.domain_id, e.description, e.tags),
        )

    @apply.register
    def _(self, e: Project.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE directory_projects SET name = %s, description = %s, enabled = %s,"
            " tags = %s WHERE id = %s",
            (e.name, e.description, e.enabled, e.tags, e.originator_id.hex),
        )

    @apply.register
    def _(self, e: Project.Deleted, cur: Cursor[DictRow]) -> None:
        project_id = e.originator_id.hex
        cur.execute("DELETE FROM directory_projects WHERE id = %s", (project_id,))
        cur.execute(
            "DELETE FROM directory_assignments WHERE scope = 'project' AND target_id = %s",
            (project_id,),
        )

    @apply.register
    def _(self, e: User.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO directory_users VALUES (%s, %s, %s, %s, true, %s, %s)",
            (
                e.originator_id.hex,
                e.name,
                e.domain_id,
                e.default_project_id or None,
                e.email,
                e.description,
            ),
        )

    @apply.register
    def _(self, e: User.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE directory_users SET name = %s, email = %s, description = %s,"
            " enabled = %s, default_project_id = %s WHERE id = %s",
            (
                e.name,
                e.email,
                e.description,
                e.enabled,
                e.default_project_id or None,
                e.originator_id.hex,
            ),
        )

    @apply.register
    def _(self, e: User.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM directory_users WHERE id = %s", (e.originator_id.hex,))
        cur.execute("DELETE FROM directory_assignments WHERE user_id = %s", (e.originator_id.hex,))

    @apply.register
    def _(self, e: User.RoleGranted, cur: Cursor[DictRow]) -> None:
        self._grant(cur, e.originator_id.hex, "project", e.project_id, e.role)

    @apply.register
    def _(self, e: User.DomainRoleGranted, cur: Cursor[DictRow]) -> None:
        self._grant(cur, e.originator_id.hex, "domain", e.domain_id, e.role)

    @apply.register
    def _(self, e: User.RoleRevoked, cur: Cursor[DictRow]) -> None:
        self._revoke(cur, e.originator_id.hex, "project", e.project_id, e.role)

    @apply.register
    def _(self, e: User.DomainRoleRevoked, cur: Cursor[DictRow]) -> None:
        self._revoke(cur, e.originator_id.hex, "domain", e.domain_id, e.role)

    @apply.register
    def _(self, e: Role.Created, cur: Cursor[DictRow]) -> None:
        cur.execute("INSERT INTO directory_roles VALUES (%s, %s)", (e.name, e.description))

    @staticmethod
    def _grant(cur: Cursor[DictRow], user_id: str, scope: str, target: str, role: str) -> None:
        cur.execute(
            "INSERT INTO directory_assignments VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (user_id, scope, target, role),
        )

    @staticmethod
    def _revoke(cur: Cursor[DictRow], user_id: str, scope: str, target: str, role: str) -> None:
        cur.execute(
            "DELETE FROM directory_assignments"
            " WHERE user_id = %s AND scope = %s AND target_id = %s AND role = %s",
            (user_id, scope, target, role),
        )


# Queries (run by the API on its asyncio pool) -------------------------------


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """``WHERE`` for the filters given (None: not filtered on)."""
    given = {column: value for column, value in filters.items() if value is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = %s" for c in given), list(given.values())


def domains(name: str | None = None, enabled: bool | None = None) -> Query:
    where, params = _where({"name": name, "enabled": enabled})
    return Query(f"SELECT * FROM directory_domains{where} ORDER BY name", params)


def domain_by_id(domain_id: str) -> Query:
    return Query("SELECT * FROM directory_domains WHERE id = %s", (domain_id,))


def domain_members(domain_id: str) -> Query:
    """How many projects and users a domain still holds."""
    return Query(
        "SELECT (SELECT count(*) FROM directory_projects WHERE domain_id = %s) AS projects,"
        " (SELECT count(*) FROM directory_users WHERE domain_id = %s) AS users",
        (domain_id, domain_id),
    )


def projects(
    name: str | None = None, domain_id: str | None = None, enabled: bool | None = None
) -> Query:
    where, params = _where({"name": name, "domain_id": domain_id, "enabled": enabled})
    return Query(f"SELECT * FROM directory_projects{where} ORDER BY name", params)


def project_by_id(project_id: str) -> Query:
    return Query("SELECT * FROM directory_projects WHERE id = %s", (project_id,))


def projects_of_user(user_id: str) -> Query:
    """The enabled projects a user holds a role on (``GET /v3/auth/projects``)."""
    return Query(
        "SELECT DISTINCT p.* FROM directory_projects p JOIN directory_assignments a"
        " ON a.scope = 'project' AND a.target_id = p.id"
        " WHERE a.user_id = %s AND p.enabled ORDER BY p.name",
        (user_id,),
    )


def domains_of_user(user_id: str) -> Query:
    return Query(
        "SELECT DISTINCT d.* FROM directory_domains d JOIN directory_assignments a"
        " ON a.scope = 'domain' AND a.target_id = d.id"
        " WHERE a.user_id = %s AND d.enabled ORDER BY d.name",
        (user_id,),
    )


def users(
    name: str | None = None, domain_id: str | None = None, enabled: bool | None = None
) -> Query:
    where, params = _where({"name": name, "domain_id": domain_id, "enabled": enabled})
    return Query(f"SELECT * FROM directory_users{where} ORDER BY name", params)


def user_by_id(user_id: str) -> Query:
    return Query("SELECT * FROM directory_users WHERE id = %s", (user_id,))


def custom_roles(name: str | None = None) -> Query:
    where, params = _where({"name": name})
    return Query(f"SELECT * FROM directory_roles{where} ORDER BY name", params)


def assignments(
    user_id: str | None = None,
    project_id: str | None = None,
    domain_id: str | None = None,
    role: str | None = None,
    within_domain: str | None = None,
) -> Query:
    """Role assignments with the names of their user and project or domain;
    ``within_domain``: only those on that domain or on its projects."""
    where, params = ["true"], list[Any]()
    for column, value in (("a.user_id", user_id), ("a.role", role)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    for scope, target in (("project", project_id), ("domain", domain_id)):
        if target is not None:
            where.append("a.scope = %s AND a.target_id = %s")
            params.extend((scope, target))
    if within_domain is not None:
        where.append("(a.scope = 'domain' AND a.target_id = %s OR p.domain_id = %s)")
        params.extend((within_domain, within_domain))
    return Query(
        "SELECT a.user_id, a.scope, a.target_id, a.role, u.name AS user_name,"
        " u.domain_id AS user_domain_id, ud.name AS user_domain_name,"
        " coalesce(p.name, d.name) AS target_name, p.domain_id AS project_domain_id,"
        " pd.name AS project_domain_name"
        " FROM directory_assignments a"
        " LEFT JOIN directory_users u ON u.id = a.user_id"
        " LEFT JOIN directory_domains ud ON ud.id = u.domain_id"
        " LEFT JOIN directory_projects p ON a.scope = 'project' AND p.id = a.target_id"
        " LEFT JOIN directory_domains pd ON pd.id = p.domain_id"
        " LEFT JOIN directory_domains d ON a.scope = 'domain' AND d.id = a.target_id"
        f" WHERE {' AND '.join(where)} ORDER BY u.name, target_name, a.role",
        params,
    )
