"""The routers and floating IPs read model, as the Networking API shows them."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.floating_ip import FloatingIP
from domain.network_values import HostRoute
from domain.router import Router
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


def _routes(routes: list[HostRoute]) -> list[dict[str, str]]:
    return [{"destination": r.destination, "nexthop": r.nexthop} for r in routes]


def router_doc(e: Router.Created) -> dict[str, Any]:
    return {
        "id": str(e.originator_id),
        "name": e.name,
        "description": e.description,
        "tenant_id": e.project_id,
        "project_id": e.project_id,
        "admin_state_up": e.admin_state_up,
        "status": "ACTIVE",
        "external_gateway_info": None,
        "routes": [],
        "tags": [],
    }


def floating_ip_doc(e: FloatingIP.Created) -> dict[str, Any]:
    return {
        "id": str(e.originator_id),
        "tenant_id": e.project_id,
        "project_id": e.project_id,
        "floating_network_id": e.floating_network_id,
        "floating_ip_address": e.floating_ip_address,
        "fixed_ip_address": None,
        "port_id": None,
        "router_id": None,
        "status": "DOWN",
        "description": e.description,
        "tags": [],
    }


class RoutersView(ProjectionView):
    name = "net_routers"
    topics = topics_of(
        Router.Created,
        Router.Updated,
        Router.GatewaySet,
        Router.GatewayCleared,
        Router.RoutesSet,
        Router.Deleted,
        FloatingIP.Created,
        FloatingIP.Associated,
        FloatingIP.Disassociated,
        FloatingIP.Described,
        FloatingIP.StatusReported,
        FloatingIP.Deleted,
        # Shown nowhere, but tracked: a request whose save ends with one is
        # answered once the view has passed it (read-your-writes).
        Router.InterfaceAdded,
        Router.InterfaceRemoved,
        Router.FloatingIpRouted,
        Router.FloatingIpUnrouted,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS net_routers (
            id uuid PRIMARY KEY, project_id text NOT NULL,
            created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_routers_by_project ON net_routers (project_id)",
        """CREATE TABLE IF NOT EXISTS net_floating_ips (
            id uuid PRIMARY KEY, project_id text NOT NULL, port_id text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_floating_ips_by_project ON net_floating_ips (project_id)",
        "CREATE INDEX IF NOT EXISTS net_floating_ips_by_port ON net_floating_ips (port_id)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Router.Created, cur: Cursor[DictRow]) -> None:
        row = {"id": e.originator_id, "project_id": e.project_id}
        insert_doc(cur, "net_routers", row, router_doc(e), e.timestamp)

    @apply.register
    def _(self, e: Router.Updated, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_routers", e.originator_id, dict(e.changes), e.timestamp)

    @apply.register
    def _(self, e: Router.GatewaySet, cur: Cursor[DictRow]) -> None:
        info = {
            "network_id": e.network_id,
            "enable_snat": e.enable_snat,
            "external_fixed_ips": [
                {"subnet_id": f.subnet_id, "ip_address": f.ip_address} for f in e.external_fixed_ips
            ],
        }
        patch_doc(cur, "net_routers", e.originator_id, {"external_gateway_info": info}, e.timestamp)

    @apply.register
    def _(self, e: Router.GatewayCleared, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_routers", e.originator_id, {"external_gateway_info": None}, e.timestamp)

    @apply.register
    def _(self, e: Router.RoutesSet, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_routers", e.originator_id, {"routes": _routes(e.routes)}, e.timestamp)

    @apply.register
    def _(self, e: Router.Deleted, cur: Cursor[DictRow]) -> None:
        delete_doc(cur, "net_routers", e.originator_id)

    @apply.register
    def _(self, e: FloatingIP.Created, cur: Cursor[DictRow]) -> None:
        row = {"id": e.originator_id, "project_id": e.project_id}
        insert_doc(cur, "net_floating_ips", row, floating_ip_doc(e), e.timestamp)

    @apply.register
    def _(self, e: FloatingIP.Associated, cur: Cursor[DictRow]) -> None:
        patch = {
            "port_id": e.port_id,
            "fixed_ip_address": e.fixed_ip_address,
            "router_id": e.router_id,
        }
        columns = {"port_id": e.port_id}
        patch_doc(cur, "net_floating_ips", e.originator_id, patch, e.timestamp, columns)

    @apply.register
    def _(self, e: FloatingIP.Disassociated, cur: Cursor[DictRow]) -> None:
        patch = {"port_id": None, "fixed_ip_address": None, "router_id": None, "status": "DOWN"}
        patch_doc(cur, "net_floating_ips", e.originator_id, patch, e.timestamp, {"port_id": ""})

    @apply.register
    def _(self, e: FloatingIP.Described, cur: Cursor[DictRow]) -> None:
        patch = {"description": e.description}
        patch_doc(cur, "net_floating_ips", e.originator_id, patch, e.timestamp)

    @apply.register
    def _(self, e: FloatingIP.StatusReported, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_floating_ips", e.originator_id, {"status": e.status}, e.timestamp)

    @apply.register
    def _(self, e: FloatingIP.Deleted, cur: Cursor[DictRow]) -> None:
        delete_doc(cur, "net_floating_ips", e.originator_id)


def _visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "true", []
    return "t.project_id = %s", [project_id]


def routers_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_routers", _visible(project_id), listing)


def router_by_id(project_id: str | None, router_id: UUID) -> Query:
    return one_query("net_routers", _visible(project_id), router_id)


def floating_ips_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_floating_ips", _visible(project_id), listing)


def floating_ip_by_id(project_id: str | None, floating_ip_id: UUID) -> Query:
    return one_query("net_floating_ips", _visible(project_id), floating_ip_id)


def router_ids() -> Query:
    """Every router (the network node's reconcile)."""
    return Query("SELECT id FROM net_routers")
