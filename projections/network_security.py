"""The security groups read model: groups with their rules embedded, and
each rule on its own, as the Networking API shows them."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.network_values import SecurityGroupRule
from domain.security_group import SecurityGroup
from projections.network_docs import (
    Listing,
    delete_doc,
    insert_doc,
    list_query,
    one_query,
    patch_doc,
)
from projections.reader import Query
from projections.view import ProjectionView, topics_of


def rule_doc(rule: SecurityGroupRule, group_id: str, project_id: str) -> dict[str, Any]:
    return {
        "id": rule.id,
        "security_group_id": group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol or None,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix or None,
        "remote_group_id": rule.remote_group_id or None,
        "description": rule.description,
        "tenant_id": project_id,
        "project_id": project_id,
    }


class SecurityGroupsView(ProjectionView):
    name = "net_security_groups"
    topics = topics_of(
        SecurityGroup.Created,
        SecurityGroup.Updated,
        SecurityGroup.RuleAdded,
        SecurityGroup.RuleRemoved,
        SecurityGroup.Deleted,
        # Shown nowhere, but tracked: a request whose save ends with one is
        # answered once the view has passed it (read-your-writes).
        SecurityGroup.MembersChanged,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS net_security_groups (
            id uuid PRIMARY KEY, project_id text NOT NULL,
            created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_security_groups_by_project"
        " ON net_security_groups (project_id)",
        """CREATE TABLE IF NOT EXISTS net_security_group_rules (
            id uuid PRIMARY KEY, project_id text NOT NULL, security_group_id uuid NOT NULL,
            created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_security_group_rules_by_group"
        " ON net_security_group_rules (security_group_id)",
        "CREATE INDEX IF NOT EXISTS net_security_group_rules_by_project"
        " ON net_security_group_rules (project_id)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: SecurityGroup.Created, cur: Cursor[DictRow]) -> None:
        group_id = str(e.originator_id)
        doc = {
            "id": group_id,
            "name": e.name,
            "description": e.description,
            "tenant_id": e.project_id,
            "project_id": e.project_id,
            "security_group_rules": [],
            "tags": [],
        }
        insert_doc(
            cur,
            "net_security_groups",
            {"id": e.originator_id, "project_id": e.project_id},
            doc,
            e.timestamp,
        )
        for rule in e.rules:
            self._insert_rule(cur, rule, e.originator_id, e.project_id, e)
        self._embed(cur, e.originator_id, e, bump=False)

    @staticmethod
    def _insert_rule(
        cur: Cursor[DictRow], rule: SecurityGroupRule, group_id: UUID, project_id: str, e: Any
    ) -> None:
        row = {"id": UUID(rule.id), "project_id": project_id, "security_group_id": group_id}
        doc = rule_doc(rule, str(group_id), project_id)
        insert_doc(cur, "net_security_group_rules", row, doc, e.timestamp)

    @staticmethod
    def _embed(cur: Cursor[DictRow], group_id: UUID, e: Any, bump: bool = True) -> None:
        """The group's document lists its rules as they are now."""
        cur.execute(
            "SELECT coalesce(jsonb_agg(doc ORDER BY created_at, id), '[]'::jsonb) AS rules"
            " FROM net_security_group_rules WHERE security_group_id = %s",
            (group_id,),
        )
        row = cur.fetchone()
        rules = row["rules"] if row else []
        if bump:
            patch_doc(
                cur, "net_security_groups", group_id, {"security_group_rules": rules}, e.timestamp
            )
        else:
            cur.execute(
                "UPDATE net_security_groups SET doc = jsonb_set(doc, '{security_group_rules}', %s)"
                " WHERE id = %s",
                (Jsonb(rules), group_id),
            )

    @apply.register
    def _(self, e: SecurityGroup.Updated, cur: Cursor[DictRow]) -> None:
        patch = {"name": e.name, "description": e.description}
        patch_doc(cur, "net_security_groups", e.originator_id, patch, e.timestamp)

    @apply.register
    def _(self, e: SecurityGroup.RuleAdded, cur: Cursor[DictRow]) -> None:
        cur.execute("SELECT project_id FROM net_security_groups WHERE id = %s", (e.originator_id,))
        row = cur.fetchone()
        if row is None:
            return
        self._insert_rule(cur, e.rule, e.originator_id, row["project_id"], e)
        self._embed(cur, e.originator_id, e)

    @apply.register
    def _(self, e: SecurityGroup.RuleRemoved, cur: Cursor[DictRow]) -> None:
        delete_doc(cur, "net_security_group_rules", e.rule_id)
        self._embed(cur, e.originator_id, e)

    @apply.register
    def _(self, e: SecurityGroup.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "DELETE FROM net_security_group_rules WHERE security_group_id = %s", (e.originator_id,)
        )
        delete_doc(cur, "net_security_groups", e.originator_id)


def _visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "true", []
    return "t.project_id = %s", [project_id]


def groups_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_security_groups", _visible(project_id), listing)


def group_by_id(project_id: str | None, group_id: UUID) -> Query:
    return one_query("net_security_groups", _visible(project_id), group_id)


def rules_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_security_group_rules", _visible(project_id), listing)


def rule_by_id(project_id: str | None, rule_id: UUID) -> Query:
    return one_query("net_security_group_rules", _visible(project_id), rule_id)
