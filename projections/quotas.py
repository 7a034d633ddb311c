"""The quota read model: limits and usage per project and resource."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.quota import Quota, default_limit
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class QuotasView(ProjectionView):
    """One row per (project, resource): limit and in_use."""

    name = "quotas"
    topics = topics_of(
        Quota.Created,
        Quota.Reserved,
        Quota.Released,
        Quota.ManyReserved,
        Quota.ManyReleased,
        Quota.Adjusted,
        Quota.LimitsSet,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS quotas (
            quota_id uuid NOT NULL, project_id text NOT NULL, resource text NOT NULL,
            hard_limit bigint NOT NULL, in_use bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (quota_id, resource))""",
        "CREATE INDEX IF NOT EXISTS quotas_by_project ON quotas (project_id)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Quota.Created, cur: Cursor[DictRow]) -> None:
        self._set_limits(cur, e.originator_id, e.limits, e.project_id)

    @apply.register
    def _(self, e: Quota.LimitsSet, cur: Cursor[DictRow]) -> None:
        self._set_limits(cur, e.originator_id, e.limits)

    @apply.register
    def _(self, e: Quota.Reserved, cur: Cursor[DictRow]) -> None:
        self._add(cur, e.originator_id, e.amounts, 1)

    @apply.register
    def _(self, e: Quota.Released, cur: Cursor[DictRow]) -> None:
        self._add(cur, e.originator_id, e.amounts, -1)

    @apply.register
    def _(self, e: Quota.ManyReserved, cur: Cursor[DictRow]) -> None:
        self._add(cur, e.originator_id, e.amounts, 1)

    @apply.register
    def _(self, e: Quota.ManyReleased, cur: Cursor[DictRow]) -> None:
        self._add(cur, e.originator_id, e.amounts, -1)

    @apply.register
    def _(self, e: Quota.Adjusted, cur: Cursor[DictRow]) -> None:
        self._add(cur, e.originator_id, e.change, 1)

    @staticmethod
    def _set_limits(
        cur: Cursor[DictRow],
        quota_id: UUID,
        limits: dict[str, int],
        project_id: str = "",
    ) -> None:
        for resource, limit in limits.items():
            # A later LimitsSet knows only the quota id: take the project from
            # any existing row of the same quota.
            cur.execute(
                "INSERT INTO quotas (quota_id, project_id, resource, hard_limit) "
                "VALUES (%s, COALESCE(NULLIF(%s, ''), "
                "(SELECT project_id FROM quotas WHERE quota_id=%s LIMIT 1)), %s, %s) "
                "ON CONFLICT (quota_id, resource) DO UPDATE SET hard_limit=EXCLUDED.hard_limit",
                (quota_id, project_id, quota_id, resource, limit),
            )

    @staticmethod
    def _add(cur: Cursor[DictRow], quota_id: UUID, amounts: dict[str, int], sign: int) -> None:
        """Every resource of one reservation in one statement (it is one per boot).
        A resource the project has no row for yet (a project made before
        volumes existed, a per-type key) gets one, with its default limit."""
        cur.execute(
            "INSERT INTO quotas AS q (quota_id, project_id, resource, hard_limit, in_use)"
            " SELECT %s, p.project_id, d.resource, d.hard_limit, d.amount"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[])"
            " AS d(resource, amount, hard_limit)"
            " CROSS JOIN (SELECT project_id FROM quotas WHERE quota_id = %s LIMIT 1) AS p"
            " ON CONFLICT (quota_id, resource) DO UPDATE SET in_use = q.in_use + EXCLUDED.in_use",
            (
                quota_id,
                list(amounts),
                [sign * a for a in amounts.values()],
                [default_limit(r) for r in amounts],
                quota_id,
            ),
        )

    def for_project(self, project_id: str) -> dict[str, dict[str, int]]:
        return usage_by_resource(self.fetch_all(quota_rows(project_id)))


def quota_rows(project_id: str) -> Query:
    return Query(
        "SELECT resource, hard_limit, in_use FROM quotas WHERE project_id=%s", (project_id,)
    )


def usage_by_resource(rows: list[DictRow]) -> dict[str, dict[str, int]]:
    """``quota_rows`` as {resource: {"limit": n, "in_use": n}}."""
    return {r["resource"]: {"limit": r["hard_limit"], "in_use": r["in_use"]} for r in rows}
