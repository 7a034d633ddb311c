"""The ports read model: each port as the Networking API shows it, and the
queries the compute API (a server's addresses, os-interface) and the
metadata service (whose address is this) read from it."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.network_values import FixedIp
from domain.port import Port
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

VIF_TYPE = "bridge"  # a tap on a Linux bridge, as Neutron's linuxbridge agent binds


def _fixed(fixed_ips: list[FixedIp]) -> list[dict[str, str]]:
    return [{"subnet_id": f.subnet_id, "ip_address": f.ip_address} for f in fixed_ips]


def _binding(host: str) -> dict[str, Any]:
    return {
        "binding:host_id": host,
        "binding:vif_type": VIF_TYPE if host else "unbound",
        "binding:vif_details": {"port_filter": True} if host else {},
    }


def port_doc(e: Port.Created) -> dict[str, Any]:
    return {
        "id": str(e.originator_id),
        "name": e.name,
        "description": e.description,
        "tenant_id": e.project_id,
        "project_id": e.project_id,
        "network_id": e.network_id,
        "mac_address": e.mac_address,
        "fixed_ips": _fixed(e.fixed_ips),
        "device_id": e.device_id,
        "device_owner": e.device_owner,
        "admin_state_up": e.admin_state_up,
        "status": "DOWN",
        "port_security_enabled": e.port_security_enabled,
        "security_groups": list(e.security_group_ids),
        **_binding(e.host),
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "tags": [],
    }


class PortsView(ProjectionView):
    name = "net_ports"
    topics = topics_of(
        Port.Created,
        Port.Updated,
        Port.FixedIpsChanged,
        Port.SecurityChanged,
        Port.Attached,
        Port.Detached,
        Port.Bound,
        Port.Unbound,
        Port.Plugged,
        Port.BoundAndPlugged,
        Port.Unplugged,
        Port.Deleted,
        # Shown nowhere, but tracked: a request whose save ends with one is
        # answered once the view has passed it (read-your-writes).
        Port.FloatingIpAttached,
        Port.FloatingIpDetached,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS net_ports (
            id uuid PRIMARY KEY, project_id text NOT NULL, network_id uuid NOT NULL,
            device_id text NOT NULL, created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_ports_by_project ON net_ports (project_id)",
        "CREATE INDEX IF NOT EXISTS net_ports_by_device ON net_ports (device_id)",
        "CREATE INDEX IF NOT EXISTS net_ports_by_network ON net_ports (network_id)",
        # The metadata service finds a guest by its network and address.
        "CREATE INDEX IF NOT EXISTS net_ports_fixed_ips ON net_ports"
        " USING gin ((doc->'fixed_ips') jsonb_path_ops)",
        # A host's network worker compares the ports bound to it with its own.
        "CREATE INDEX IF NOT EXISTS net_ports_by_host ON net_ports ((doc->>'binding:host_id'))",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Port.Created, cur: Cursor[DictRow]) -> None:
        row = {
            "id": e.originator_id,
            "project_id": e.project_id,
            "network_id": UUID(e.network_id),
            "device_id": e.device_id,
        }
        insert_doc(cur, "net_ports", row, port_doc(e), e.timestamp)

    @apply.register
    def _(self, e: Port.Updated, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_ports", e.originator_id, dict(e.changes), e.timestamp)

    @apply.register
    def _(self, e: Port.FixedIpsChanged, cur: Cursor[DictRow]) -> None:
        patch_doc(
            cur, "net_ports", e.originator_id, {"fixed_ips": _fixed(e.fixed_ips)}, e.timestamp
        )

    @apply.register
    def _(self, e: Port.SecurityChanged, cur: Cursor[DictRow]) -> None:
        patch = {
            "port_security_enabled": e.port_security_enabled,
            "security_groups": list(e.security_group_ids),
        }
        patch_doc(cur, "net_ports", e.originator_id, patch, e.timestamp)

    @apply.register
    def _(self, e: Port.Attached, cur: Cursor[DictRow]) -> None:
        patch = {"device_id": e.device_id, "device_owner": e.device_owner}
        columns = {"device_id": e.device_id}
        patch_doc(cur, "net_ports", e.originator_id, patch, e.timestamp, columns)

    @apply.register
    def _(self, e: Port.Detached, cur: Cursor[DictRow]) -> None:
        patch = {"device_id": "", "device_owner": "", "status": "DOWN"}
        patch_doc(cur, "net_ports", e.originator_id, patch, e.timestamp, {"device_id": ""})

    @apply.register
    def _(self, e: Port.Bound, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_ports", e.originator_id, _binding(e.host), e.timestamp)

    @apply.register
    def _(self, e: Port.Unbound, cur: Cursor[DictRow]) -> None:
        patch = {**_binding(""), "status": "DOWN"}
        patch_doc(cur, "net_ports", e.originator_id, patch, e.timestamp)

    @apply.register
    def _(self, e: Port.Plugged, cur: Cursor[DictRow]) -> None:
        patch_doc(
            cur, "net_ports", e.originator_id, {"status": "ACTIVE", **_binding(e.host)}, e.timestamp
        )

    @apply.register
    def _(self, e: Port.BoundAndPlugged, cur: Cursor[DictRow]) -> None:
        patch_doc(
            cur, "net_ports", e.originator_id, {"status": "ACTIVE", **_binding(e.host)}, e.timestamp
        )

    @apply.register
    def _(self, e: Port.Unplugged, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_ports", e.originator_id, {"status": "DOWN"}, e.timestamp)

    @apply.register
    def _(self, e: Port.Deleted, cur: Cursor[DictRow]) -> None:
        delete_doc(cur, "net_ports", e.originator_id)


# Queries ---------------------------------------------------------------------


def _visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "true", []
    return "t.project_id = %s", [project_id]


def ports_bound_to(host: str) -> Query:
    """The ports bound to a host (a network worker's reconcile)."""
    return Query("SELECT id FROM net_ports WHERE doc->>'binding:host_id' = %s", (host,))


def dhcp_networks() -> Query:
    """The networks with a DHCP port (the network node's reconcile)."""
    return Query(
        "SELECT network_id AS id FROM net_ports WHERE doc->>'device_owner' = 'network:dhcp'"
    )


def ports_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_ports", _visible(project_id), listing)


def port_by_id(project_id: str | None, port_id: UUID) -> Query:
    return one_query("net_ports", _visible(project_id), port_id)


# The ports plugged into some servers, in the order each server got them,
# with their network's name and the floating addresses reaching them.
_SERVERS_PORTS = (
    " coalesce(n.doc->>'name', '') AS network_name,"
    " coalesce((SELECT jsonb_agg(jsonb_build_object('floating', f.doc->>'floating_ip_address',"
    " 'fixed', f.doc->>'fixed_ip_address')) FROM net_floating_ips f"
    " WHERE f.port_id = p.id::text), '[]'::jsonb) AS floating"
    " FROM net_ports p LEFT JOIN net_networks n ON n.id = p.network_id"
    " WHERE p.device_id = ANY(%s) ORDER BY p.created_at, p.id"
)


def ports_of_servers(server_ids: list[str]) -> Query:
    """Every port plugged into these servers, whole."""
    return Query("SELECT p.device_id, p.doc AS port," + _SERVERS_PORTS, (server_ids,))


def addresses_of_servers(server_ids: list[str]) -> Query:
    """What a server's ``addresses`` show of each port plugged into it, as
    ``ports_of_servers`` but only those fields of the port: a listing of
    servers decodes no more of each port than it shows."""
    return Query(
        "SELECT p.device_id, p.doc->>'project_id' AS project_id,"
        " p.doc->>'device_owner' AS device_owner, p.doc->>'mac_address' AS mac_address,"
        " p.doc->'fixed_ips' AS fixed_ips," + _SERVERS_PORTS,
        (server_ids,),
    )


def group_names_of_servers(server_ids: list[str]) -> Query:
    """The names of the security groups on the ports plugged into each
    server (Nova's ``security_groups`` of a server), a row per name."""
    return Query(
        "SELECT DISTINCT p.device_id, p.doc->>'project_id' AS project_id, g.doc->>'name' AS name"
        " FROM net_ports p JOIN net_security_groups g ON g.id::text IN"
        " (SELECT jsonb_array_elements_text(p.doc->'security_groups'))"
        " WHERE p.device_id = ANY(%s) AND p.doc->>'device_owner' LIKE 'compute:%%'"
        " ORDER BY 1, 3",
        (server_ids,),
    )


def port_by_address(network_id: UUID, address: str) -> Query:
    """The port of a network holding an address (the metadata service's guest)."""
    return Query(
        "SELECT p.id::text AS id, p.device_id, p.doc->>'device_owner' AS device_owner"
        " FROM net_ports p WHERE p.network_id = %s AND p.doc->'fixed_ips' @> %s::jsonb",
        (network_id, Jsonb([{"ip_address": address}])),
    )
