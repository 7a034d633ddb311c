"""The networks and subnets read model: each as the Networking API shows it."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.network import Network, SegmentPool
from domain.network_values import AllocationPool, HostRoute
from domain.subnet import Subnet
from domain.subnet_pool import SubnetPool
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

# Attribute names as the API shows them, for those the aggregate names otherwise.
_NETWORK_NAMES = {"external": "router:external"}


def network_doc(e: Network.Created) -> dict[str, Any]:
    segment = e.segment
    return {
        "id": str(e.originator_id),
        "name": e.name,
        "description": e.description,
        "tenant_id": e.project_id,
        "project_id": e.project_id,
        "admin_state_up": e.admin_state_up,
        "status": "ACTIVE",
        "subnets": [],
        "shared": e.shared,
        "router:external": e.external,
        "mtu": e.mtu,
        "port_security_enabled": e.port_security_enabled,
        "provider:network_type": segment.network_type,
        "provider:physical_network": segment.physical_network or None,
        "provider:segmentation_id": segment.segmentation_id
        if segment.network_type != "flat"
        else None,
        "tags": [],
    }


def subnet_doc(e: Subnet.Created) -> dict[str, Any]:
    return {
        "id": str(e.originator_id),
        "name": e.name,
        "description": e.description,
        "tenant_id": e.project_id,
        "project_id": e.project_id,
        "network_id": e.network_id,
        "ip_version": e.ip_version,
        "cidr": e.cidr,
        "gateway_ip": e.gateway_ip or None,
        "allocation_pools": [_pool(p) for p in e.allocation_pools],
        "enable_dhcp": e.enable_dhcp,
        "dns_nameservers": list(e.dns_nameservers),
        "host_routes": [_route(r) for r in e.host_routes],
        "ipv6_ra_mode": e.ipv6_ra_mode or None,
        "ipv6_address_mode": e.ipv6_address_mode or None,
        "subnetpool_id": e.subnetpool_id or None,
        "service_types": [],
        "tags": [],
    }


def subnet_pool_doc(e: SubnetPool.Created) -> dict[str, Any]:
    return {
        "id": str(e.originator_id),
        "name": e.name,
        "description": e.description,
        "tenant_id": e.project_id,
        "project_id": e.project_id,
        "ip_version": e.ip_version,
        "prefixes": list(e.prefixes),
        "default_prefixlen": e.default_prefixlen,
        "min_prefixlen": e.min_prefixlen,
        "max_prefixlen": e.max_prefixlen,
        "shared": e.shared,
        "is_default": False,
        "default_quota": None,
        "address_scope_id": None,
        "tags": [],
    }


def _pool(pool: AllocationPool) -> dict[str, str]:
    return {"start": pool.start, "end": pool.end}


def _route(route: HostRoute) -> dict[str, str]:
    return {"destination": route.destination, "nexthop": route.nexthop}


def _shown_subnet_change(key: str, value: Any) -> Any:
    if key == "allocation_pools":
        return [_pool(p) for p in value]
    if key == "host_routes":
        return [_route(r) for r in value]
    if key == "gateway_ip":
        return value or None
    return value


class NetworksView(ProjectionView):
    name = "net_networks"
    topics = topics_of(
        Network.Created,
        Network.Updated,
        Network.SubnetAdded,
        Network.SubnetRemoved,
        Network.Deleted,
        Subnet.Created,
        Subnet.Updated,
        Subnet.Deleted,
        SubnetPool.Created,
        SubnetPool.Updated,
        SubnetPool.Deleted,
        # Shown nowhere, but tracked: a request whose save ends with one is
        # answered once the view has passed it (read-your-writes).
        Network.PortsAdded,
        Network.PortsRemoved,
        SegmentPool.Created,
        SegmentPool.Taken,
        SegmentPool.Released,
        Subnet.AddressAllocated,
        Subnet.AddressesAllocated,
        Subnet.AddressReleased,
        Subnet.AddressesReleased,
        SubnetPool.PrefixAllocated,
        SubnetPool.PrefixReleased,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS net_networks (
            id uuid PRIMARY KEY, project_id text NOT NULL, shared boolean NOT NULL,
            external boolean NOT NULL, created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_networks_by_project ON net_networks (project_id)",
        """CREATE TABLE IF NOT EXISTS net_subnets (
            id uuid PRIMARY KEY, project_id text NOT NULL, network_id uuid NOT NULL,
            created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS net_subnets_by_network ON net_subnets (network_id)",
        "CREATE INDEX IF NOT EXISTS net_subnets_by_project ON net_subnets (project_id)",
        """CREATE TABLE IF NOT EXISTS net_subnet_pools (
            id uuid PRIMARY KEY, project_id text NOT NULL, shared boolean NOT NULL,
            created_at timestamptz NOT NULL, doc jsonb NOT NULL)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Network.Created, cur: Cursor[DictRow]) -> None:
        row = {
            "id": e.originator_id,
            "project_id": e.project_id,
            "shared": e.shared,
            "external": e.external,
        }
        insert_doc(cur, "net_networks", row, network_doc(e), e.timestamp)

    @apply.register
    def _(self, e: Network.Updated, cur: Cursor[DictRow]) -> None:
        patch = {_NETWORK_NAMES.get(k, k): v for k, v in e.changes.items()}
        columns: dict[str, Any] = {
            k: e.changes[k] for k in ("shared", "external") if k in e.changes
        }
        patch_doc(cur, "net_networks", e.originator_id, patch, e.timestamp, columns)

    @apply.register
    def _(self, e: Network.SubnetAdded, cur: Cursor[DictRow]) -> None:
        self._subnets(cur, e, lambda ids: [*ids, e.subnet_id])

    @apply.register
    def _(self, e: Network.SubnetRemoved, cur: Cursor[DictRow]) -> None:
        self._subnets(cur, e, lambda ids: [i for i in ids if i != e.subnet_id])

    @staticmethod
    def _subnets(cur: Cursor[DictRow], e: Any, change: Any) -> None:
        cur.execute(
            "SELECT doc->'subnets' AS ids FROM net_networks WHERE id=%s", (e.originator_id,)
        )
        row = cur.fetchone()
        if row is not None:
            patch_doc(
                cur, "net_networks", e.originator_id, {"subnets": change(row["ids"])}, e.timestamp
            )

    @apply.register
    def _(self, e: Network.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM net_subnets WHERE network_id = %s", (e.originator_id,))
        delete_doc(cur, "net_networks", e.originator_id)

    @apply.register
    def _(self, e: Subnet.Created, cur: Cursor[DictRow]) -> None:
        row = {"id": e.originator_id, "project_id": e.project_id, "network_id": UUID(e.network_id)}
        insert_doc(cur, "net_subnets", row, subnet_doc(e), e.timestamp)

    @apply.register
    def _(self, e: Subnet.Updated, cur: Cursor[DictRow]) -> None:
        patch = {k: _shown_subnet_change(k, v) for k, v in e.changes.items()}
        patch_doc(cur, "net_subnets", e.originator_id, patch, e.timestamp)

    @apply.register
    def _(self, e: Subnet.Deleted, cur: Cursor[DictRow]) -> None:
        delete_doc(cur, "net_subnets", e.originator_id)

    @apply.register
    def _(self, e: SubnetPool.Created, cur: Cursor[DictRow]) -> None:
        row = {"id": e.originator_id, "project_id": e.project_id, "shared": e.shared}
        insert_doc(cur, "net_subnet_pools", row, subnet_pool_doc(e), e.timestamp)

    @apply.register
    def _(self, e: SubnetPool.Updated, cur: Cursor[DictRow]) -> None:
        patch_doc(cur, "net_subnet_pools", e.originator_id, dict(e.changes), e.timestamp)

    @apply.register
    def _(self, e: SubnetPool.Deleted, cur: Cursor[DictRow]) -> None:
        delete_doc(cur, "net_subnet_pools", e.originator_id)


# Queries ---------------------------------------------------------------------


# Who sees a network: its project, and everyone for shared or external ones.
def _networks_visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "true", []
    return "(t.project_id = %s OR t.shared OR t.external)", [project_id]


# A subnet: its project's, and those of shared networks (not of external
# ones: Neutron shows those only to the external network's owner).
def _subnets_visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "true", []
    return (
        "(t.project_id = %s OR EXISTS (SELECT 1 FROM net_networks n"
        " WHERE n.id = t.network_id AND n.shared))",
        [project_id],
    )


def networks_page(project_id: str | None, listing: Listing) -> Query:
    """``project_id`` None: an admin, who sees every project's."""
    return list_query("net_networks", _networks_visible(project_id), listing)


def network_by_id(project_id: str | None, network_id: UUID) -> Query:
    return one_query("net_networks", _networks_visible(project_id), network_id)


def subnets_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_subnets", _subnets_visible(project_id), listing)


def subnet_by_id(project_id: str | None, subnet_id: UUID) -> Query:
    return one_query("net_subnets", _subnets_visible(project_id), subnet_id)


def network_names(network_ids: list[str]) -> Query:
    return Query(
        "SELECT id::text AS id, doc->>'name' AS name FROM net_networks WHERE id::text = ANY(%s)",
        (network_ids,),
    )


def _pools_visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "true", []
    return "(t.project_id = %s OR t.shared)", [project_id]


def subnet_pools_page(project_id: str | None, listing: Listing) -> Query:
    return list_query("net_subnet_pools", _pools_visible(project_id), listing)


def subnet_pool_by_id(project_id: str | None, pool_id: UUID) -> Query:
    return one_query("net_subnet_pools", _pools_visible(project_id), pool_id)
