"""The network drivers a host's network worker drives: ports on segments,
DHCP, routers and security-group filters, one protocol each.

Every method is idempotent: called again after it returned, or after a
crash part-way through, it converges on the same end state. Each ``list_*``
reports what exists on the host (not what was asked for), so a periodic
reconcile can compare it with the ledger and repair the difference.

Every method may raise:
- PermanentDriverError when retrying will not help (an invalid spec, a
  segment kind this host cannot make, a tool refusing its configuration);
- TransientDriverError when it may (a namespace or device vanished or
  appeared under us, a tool timed out, a port not plugged yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from workers.drivers.network_specs import (
    AddressSet,
    DhcpHost,
    DhcpService,
    DhcpState,
    FilterState,
    PortFilter,
    RouterSpec,
    RouterState,
)
from workers.drivers.network_types import PluggedPort, PortBinding, Segment, SegmentState


class PortDriver(Protocol):
    """Plugs ports into tenant networks on one host.

    A network is present on a host while it has ports there: a bridge
    (``bridge_name(network_id)``) joined to the other hosts by a segment
    device of the network's kind. Both are made with the network's first
    port and go with its last.
    """

    def ensure_port(self, port: PortBinding) -> str:
        """Plug ``port`` and return its device's name (``tap_name(port_id)``),
        which a hypervisor hands to the guest as an ethernet interface.

        Afterwards the network's bridge and segment device exist, flooding to
        ``port.segment.vteps`` (this host's own left out), and the tap is up
        on that bridge. A tap already on another network's bridge is moved.
        Raises PermanentDriverError if the segment's kind is unavailable here.
        """
        ...

    def remove_port(self, port_id: str) -> None:
        """Unplug the port: its device goes, and with the network's last port
        on this host its bridge and segment device go too. An unknown port
        is not an error."""
        ...

    def update_segment(self, segment: Segment) -> None:
        """Make a present network flood to ``segment.vteps`` (others are
        dropped, none is added twice); a network absent here stays absent."""
        ...

    def list_ports(self) -> list[PluggedPort]:
        """Every port plugged on this host, sorted by port id."""
        ...

    def list_segments(self) -> list[SegmentState]:
        """Every network whose bridge this driver made on this host, sorted by
        network id (a flat network's bridge is the host's, not listed)."""
        ...


class DhcpDriver(Protocol):
    """Runs each network's DHCP server (static leases only) and its metadata
    proxy, on the host that serves the network's DHCP.

    A service exists while it has hosts: its first ``ensure_host`` makes it
    (its port plugged, its server running) and its last ``remove_host``
    ends it, leaving no process, port, namespace or lease behind.
    """

    def ensure_host(self, service: DhcpService, host: DhcpHost) -> None:
        """Make ``service`` run as specified (made if missing, restarted if its
        server died or was configured otherwise) and answer ``host.mac`` with
        ``host.ip`` and ``host.hostname``. Adding or changing one entry
        reloads the server; it is not restarted."""
        ...

    def remove_host(self, network_id: str, port_id: str) -> None:
        """Drop the port's entry and release its lease; with the last entry the
        whole service goes. Unknown network or port: not an error."""
        ...

    def ensure_service(self, service: DhcpService, hosts: frozenset[DhcpHost]) -> None:
        """Converge on exactly ``hosts`` (a reconcile's repair): entries not
        in it are dropped with their leases; no hosts removes the service."""
        ...

    def remove_service(self, network_id: str) -> None:
        """End the network's service whatever its entries. Unknown: fine."""
        ...

    def list_services(self) -> list[DhcpState]:
        """Every DHCP service on this host, sorted by network id; ``running``
        is false for one whose server died (ensure_* restarts it)."""
        ...


class RouterDriver(Protocol):
    """Runs routers on the network node: each one its own namespace with a
    leg on each subnet it joins and one on the external network, SNAT for
    the subnets behind it and DNAT/SNAT for its floating IPs."""

    def ensure_router(self, spec: RouterSpec) -> None:
        """Converge the router on ``spec`` as a whole: legs and floating IPs
        not in it are removed, missing ones added, the NAT rules replaced in
        one step (a packet sees the old rules or the new, never a mix)."""
        ...

    def remove_router(self, router_id: str) -> None:
        """Remove the router with all its legs and rules. Unknown: fine."""
        ...

    def list_routers(self) -> list[RouterState]:
        """Every router on this host, sorted by router id."""
        ...


class FirewallDriver(Protocol):
    """Filters each plugged port's traffic by its security groups, statefully:
    a port with a filter receives only what a rule lets in, sends only what
    a rule lets out and only from its own MAC and addresses, and replies to
    allowed traffic always pass. DHCP with its server and IPv6 neighbour
    discovery always pass. A port with no filter is not filtered at all
    (port security off). Changes apply to traffic of running guests."""

    def ensure_filter(self, port_filter: PortFilter) -> None:
        """Replace the port's filter with ``port_filter`` in one step, its
        ``address_sets`` made or refilled in the same step; a set no filter
        names any more goes. Raises TransientDriverError if the port is not
        plugged on this host."""
        ...

    def remove_filter(self, port_id: str) -> None:
        """Drop the port's filter (its traffic is then unfiltered, so call it
        as the port goes), and the address sets only it named. Unknown: fine."""
        ...

    def ensure_address_sets(self, sets: Sequence[AddressSet]) -> None:
        """Refill each of ``sets`` that a filter here names, in one step (a
        remote group's members changed); a set no filter here names is not
        made."""
        ...

    def list_address_sets(self) -> list[AddressSet]:
        """Every address set on this host, sorted by name."""
        ...

    def list_filters(self) -> list[FilterState]:
        """Every port filter on this host with the digest of what it allows
        (``PortFilter.digest``), sorted by port id."""
        ...


@dataclass(frozen=True)
class NetworkDrivers:
    """One host's network drivers, as its network worker drives them: ports
    and filters on every host; DHCP and routers where the host serves them
    (the network node)."""

    ports: PortDriver
    firewall: FirewallDriver
    dhcp: DhcpDriver | None = None
    routers: RouterDriver | None = None
