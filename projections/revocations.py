"""The token revocation list: which tokens stopped working, and since when.

A row says: every token matching ``key`` and issued at or before
``revoked_at`` is revoked. Keys name what a token carries: ``audit:<id>``
(one token), ``user:<id>``, ``project:<id>``, ``domain:<id>`` or
``user-project:<user>/<project>`` (a role removed there). API processes keep
the list in memory (api/revocations.py): checking a token costs no query."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.domains import Domain
from domain.identity import Project, User
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class RevocationsView(ProjectionView):
    name = "revocations"
    topics = topics_of(
        User.Updated,
        User.Deleted,
        User.PasswordChanged,
        User.RoleRevoked,
        User.DomainRoleRevoked,
        User.TokenRevoked,
        Project.Updated,
        Project.Deleted,
        Domain.Updated,
        Domain.Deleted,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS revocations (
            key text NOT NULL, revoked_at double precision NOT NULL,
            PRIMARY KEY (key, revoked_at))""",
        "CREATE INDEX IF NOT EXISTS revocations_by_time ON revocations (revoked_at)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: User.Updated, cur: Cursor[DictRow]) -> None:
        if not e.enabled:
            _revoke(cur, f"user:{e.originator_id.hex}", e)

    @apply.register(User.Deleted)
    @apply.register(User.PasswordChanged)
    def _(self, e: Any, cur: Cursor[DictRow]) -> None:
        _revoke(cur, f"user:{e.originator_id.hex}", e)

    @apply.register
    def _(self, e: User.RoleRevoked, cur: Cursor[DictRow]) -> None:
        _revoke(cur, f"user-project:{e.originator_id.hex}/{e.project_id}", e)

    @apply.register
    def _(self, e: User.DomainRoleRevoked, cur: Cursor[DictRow]) -> None:
        _revoke(cur, f"user-domain:{e.originator_id.hex}/{e.domain_id}", e)

    @apply.register
    def _(self, e: User.TokenRevoked, cur: Cursor[DictRow]) -> None:
        _revoke(cur, f"audit:{e.audit_id}", e)

    @apply.register
    def _(self, e: Project.Updated, cur: Cursor[DictRow]) -> None:
        if not e.enabled:
            _revoke(cur, f"project:{e.originator_id.hex}", e)

    @apply.register
    def _(self, e: Project.Deleted, cur: Cursor[DictRow]) -> None:
        _revoke(cur, f"project:{e.originator_id.hex}", e)

    @apply.register
    def _(self, e: Domain.Updated, cur: Cursor[DictRow]) -> None:
        if not e.enabled:
            _revoke(cur, f"domain:{e.domain_id}", e)

    @apply.register
    def _(self, e: Domain.Deleted, cur: Cursor[DictRow]) -> None:
        _revoke(cur, f"domain:{e.domain_id}", e)


def _revoke(cur: Cursor[DictRow], key: str, event: Any) -> None:
    cur.execute(
        "INSERT INTO revocations VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (key, event.timestamp.timestamp()),
    )


def live(not_before: float) -> Query:
    """The revocations that can still matter: one older than the longest
    token lifetime covers only expired tokens. Few rows (revocations are
    rare), read whole on each change, so a rebuilt table needs no care."""
    return Query(
        "SELECT key, max(revoked_at) AS revoked_at FROM revocations"
        " WHERE revoked_at >= %s GROUP BY key",
        (not_before,),
    )
