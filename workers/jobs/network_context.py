"""What a network worker's jobs run against: the host it serves (a compute
host, or the network node, which runs DHCP, the metadata proxies and the
routers), the host's network drivers, and the tunnel endpoints every
VXLAN segment floods to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from workers.drivers.network import NetworkDrivers
from workers.runtime import LedgerContext

# The host the network node's services are bound to (a service port's
# binding:host_id), as Neutron names its DHCP and L3 agents' host.
NETWORK_NODE = "network-node"


class Inventory(Protocol):
    """What the read models say is where (a reconcile's candidates; the
    ledger's aggregates then decide)."""

    def ports_bound_to(self, host: str) -> list[UUID]: ...

    def routers(self) -> list[UUID]: ...

    def dhcp_networks(self) -> list[UUID]: ...


class NoInventory:
    """Nothing known beyond what the host has (tests of single jobs)."""

    def ports_bound_to(self, host: str) -> list[UUID]:
        return []

    def routers(self) -> list[UUID]:
        return []

    def dhcp_networks(self) -> list[UUID]:
        return []


@dataclass(frozen=True)
class NetworkContext(LedgerContext):
    """One host's network worker. ``vteps`` are the underlay addresses of
    every host and of the network node: a segment floods to all of them
    (a host without the segment drops what it gets), so no host's segment
    has to change when another host's first port of a network comes or
    goes."""

    name: str
    drivers: NetworkDrivers
    vteps: frozenset[str] = frozenset()
    vtep: str = ""  # this host's own underlay address, among ``vteps``
    inventory: Inventory = field(default_factory=NoInventory)

    @property
    def serves_network_node(self) -> bool:
        return self.drivers.dhcp is not None and self.drivers.routers is not None
