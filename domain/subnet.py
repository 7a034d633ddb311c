"""The Subnet aggregate: an IP range of a network, and the pool its
addresses are handed out from. Every address a port or floating IP holds is
an allocation event on its subnet: two saves that hand out the same address
conflict on the subnet's version, so an address is never held twice."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from eventsourcing.domain import Aggregate, event

from domain.addressing import (
    NeutronBadRequest,
    NeutronConflict,
    checked_nameservers,
    checked_pools,
    checked_routes,
    eui64_address,
    in_pools,
    next_free,
    parse_address,
    pool_spans,
    usable_bounds,
)
from domain.errors import InvalidInput, NotFound
from domain.network_values import ROUTER_OWNERS, AllocationPool, CopiedCheaply, HostRoute
from domain.values import Actor

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
# Addresses of these modes come from the port's MAC, not from the pools.
MAC_DERIVED = ("slaac", "dhcpv6-stateless")


class Subnet(CopiedCheaply, Aggregate):
    """A subnet of a network, with the addresses held from it."""

    class Created(Aggregate.Created):
        project_id: str
        network_id: str
        name: str
        description: str
        ip_version: int
        cidr: str
        gateway_ip: str  # "" for none
        allocation_pools: list[AllocationPool]
        enable_dhcp: bool
        dns_nameservers: list[str]
        host_routes: list[HostRoute]
        ipv6_ra_mode: str  # "" for none
        ipv6_address_mode: str  # "" for none
        subnetpool_id: str  # the pool its CIDR was carved from, "" for none
        actor: Actor

    @event(Created)
    def __init__(
        self,
        project_id: str,
        network_id: str,
        name: str,
        description: str,
        ip_version: int,
        cidr: str,
        gateway_ip: str,
        allocation_pools: list[AllocationPool],
        enable_dhcp: bool,
        dns_nameservers: list[str],
        host_routes: list[HostRoute],
        ipv6_ra_mode: str,
        ipv6_address_mode: str,
        subnetpool_id: str,
        actor: Actor,
    ) -> None:
        self.project_id, self.network_id = project_id, network_id
        self.subnetpool_id = subnetpool_id
        self.name, self.description = name, description
        self.ip_version, self.cidr, self.gateway_ip = ip_version, cidr, gateway_ip
        self.allocation_pools = list(allocation_pools)
        self.enable_dhcp = enable_dhcp
        self.dns_nameservers, self.host_routes = list(dns_nameservers), list(host_routes)
        self.ipv6_ra_mode, self.ipv6_address_mode = ipv6_ra_mode, ipv6_address_mode
        self.allocations: dict[str, str] = {}  # address -> holder (a port or floating IP id)
        self.cursor = 0  # the last address handed out from the pools, as an integer
        self.deleted = False

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def mac_derived(self) -> bool:
        return self.ip_version == 6 and self.ipv6_address_mode in MAC_DERIVED

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Subnet {self.id} could not be found.")

    # Addresses ---------------------------------------------------------

    def check_address(self, address: str, device_owner: str) -> str:
        """An address a port asks for, in canonical spelling: inside the
        subnet's usable range (not only the pools, as Neutron allows), the
        gateway only for a router, and free."""
        parsed = parse_address(address, "fixed_ips")
        cidr = self.network
        low, high = usable_bounds(cidr)
        if parsed.version != self.ip_version or not low <= int(parsed) <= high:
            raise NeutronBadRequest(
                f"IP address {address} is not a valid IP for the specified subnet.",
                "InvalidIpForSubnet",
            )
        shown = str(parsed)
        if shown == self.gateway_ip and device_owner not in ROUTER_OWNERS:
            raise NeutronConflict(
                f"IP address {shown} is the gateway of subnet {self.id}: only a router may"
                " hold it.",
                "IpAddressInUse",
            )
        if shown in self.allocations:
            raise self.in_use(shown)
        return shown

    def in_use(self, address: str) -> NeutronConflict:
        return NeutronConflict(
            f"Unable to complete operation for network {self.network_id}. The IP address"
            f" {address} is in use.",
            "IpAddressInUse",
        )

    def allocate(self, address: str, holder: str, actor: Actor) -> None:
        """Hold a checked address (``check_address`` or an allocator's choice)."""
        self.require_live()
        if self.allocations.get(address, holder) != holder:
            raise NeutronConflict(f"The IP address {address} is in use.", "IpAddressInUse")
        if address not in self.allocations:
            self._allocated(address, holder, actor)

    class AddressAllocated(Aggregate.Event):
        address: str
        holder: str
        actor: Actor

    @event(AddressAllocated)
    def _allocated(self, address: str, holder: str, actor: Actor) -> None:
        self._hold(address, holder, pool_spans(self.allocation_pools))

    def _hold(self, address: str, holder: str, spans: list[tuple[int, int]]) -> None:
        """An address held; the search for free ones goes on after it."""
        self.allocations[address] = holder
        value = int(ipaddress.ip_address(address))
        if in_pools(value, spans):
            self.cursor = value

    def allocate_many(self, addresses: dict[str, str], actor: Actor) -> None:
        """Hold several checked addresses (address -> holder) in one event:
        those a batch of requests took (``SubnetAllocator``)."""
        self.require_live()
        for address, holder in addresses.items():
            if self.allocations.get(address, holder) != holder:
                raise self.in_use(address)
        new = {a: h for a, h in addresses.items() if a not in self.allocations}
        if len(new) == 1:
            ((address, holder),) = new.items()
            self._allocated(address, holder, actor)
        elif new:
            self._addresses_allocated(new, actor)

    class AddressesAllocated(Aggregate.Event):
        addresses: dict[str, str]  # address -> holder, in the order taken
        actor: Actor

    @event(AddressesAllocated)
    def _addresses_allocated(self, addresses: dict[str, str], actor: Actor) -> None:
        spans = pool_spans(self.allocation_pools)
        for address, holder in addresses.items():
            self._hold(address, holder, spans)

    def release(self, address: str, holder: str, actor: Actor) -> None:
        """Give an address back; releasing one not held by ``holder`` is a no-op."""
        if self.allocations.get(address) == holder:
            self._released(address, holder, actor)

    class AddressReleased(Aggregate.Event):
        address: str
        holder: str
        actor: Actor

    @event(AddressReleased)
    def _released(self, address: str, holder: str, actor: Actor) -> None:
        del self.allocations[address]

    def release_many(self, held: dict[str, str], actor: Actor) -> None:
        """Give back several addresses (address -> holder) in one event: a
        batch of deleted ports. Those not held by that holder are skipped."""
        gone = {a: h for a, h in held.items() if self.allocations.get(a) == h}
        if len(gone) == 1:
            ((address, holder),) = gone.items()
            self.release(address, holder, actor)
        elif gone:
            self._addresses_released(gone, actor)

    class AddressesReleased(Aggregate.Event):
        addresses: dict[str, str]  # address -> the holder it had
        actor: Actor

    @event(AddressesReleased)
    def _addresses_released(self, addresses: dict[str, str], actor: Actor) -> None:
        for address in addresses:
            del self.allocations[address]

    def holders(self) -> set[str]:
        return set(self.allocations.values())

    # Changes ---------------------------------------------------------------

    UPDATABLE = ("name", "description", "gateway_ip", "allocation_pools", "enable_dhcp",
                 "dns_nameservers", "host_routes")  # fmt: skip

    def update(self, changes: dict[str, object], actor: Actor) -> None:
        """Change attributes (checked as at creation); equal values dropped."""
        self.require_live()
        for key in changes:
            if key not in self.UPDATABLE:
                raise InvalidInput(f"Attribute '{key}' of a subnet cannot be updated")
        checked = dict(changes)
        gateway = str(checked.get("gateway_ip", self.gateway_ip) or "")
        if "gateway_ip" in checked:
            gateway = self._checked_gateway(gateway)
            checked["gateway_ip"] = gateway
        if "allocation_pools" in checked or "gateway_ip" in checked:
            pools = checked.get("allocation_pools", self.allocation_pools)
            assert isinstance(pools, list)
            checked_gw = ipaddress.ip_address(gateway) if gateway else None
            checked["allocation_pools"] = checked_pools(self.network, pools, checked_gw)
        if "dns_nameservers" in checked:
            servers = checked["dns_nameservers"]
            assert isinstance(servers, list)
            checked["dns_nameservers"] = checked_nameservers(servers, str(self.id))
        if "host_routes" in checked:
            routes = checked["host_routes"]
            assert isinstance(routes, list)
            checked["host_routes"] = checked_routes(routes, self.ip_version)
        changed = {k: v for k, v in checked.items() if getattr(self, k) != v}
        if changed:
            self._updated(changed, actor)

    def _checked_gateway(self, gateway: str) -> str:
        if not gateway:
            return ""
        parsed = parse_address(gateway, "gateway_ip")
        if parsed.version != self.ip_version or parsed not in self.network:
            raise NeutronBadRequest(
                f"Invalid input for operation: Gateway IP {gateway} is not in subnet {self.cidr}.",
                "InvalidInput",
            )
        shown = str(parsed)
        if shown != self.gateway_ip and shown in self.allocations:
            raise NeutronConflict(
                f"Gateway ip {shown} conflicts with an address in use.", "IpAddressInUse"
            )
        return shown

    class Updated(Aggregate.Event):
        changes: dict[str, object]
        actor: Actor

    @event(Updated)
    def _updated(self, changes: dict[str, object], actor: Actor) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def delete(self, owners: dict[str, str], actor: Actor) -> None:
        """Refused (409 SubnetInUse) while an address is held by anything but
        the network's own ports (``owners``: holder -> device owner, of the
        holders the caller lets go in the same save)."""
        self.require_live()
        held = [h for h in self.allocations.values() if h not in owners]
        if held:
            raise NeutronConflict(
                f"Unable to complete operation on subnet {self.id}: One or more ports have an"
                " IP allocation from this subnet.",
                "SubnetInUse",
            )
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True


class SubnetAllocator:
    """Chooses free addresses of one subnet for one batch of requests, with
    the set of addresses held computed once rather than per request. The
    addresses the batch takes are recorded together, in one event, when the
    batch is saved (``flush``): a boot batch's ports, a burst of floating IPs."""

    def __init__(self, subnet: Subnet) -> None:
        self.subnet = subnet
        self.used = {int(ipaddress.ip_address(a)) for a in subnet.allocations}
        self.spans = pool_spans(subnet.allocation_pools)
        self.pending: dict[str, str] = {}  # address -> holder, taken but not recorded yet

    def holder_of(self, address: str) -> str:
        """Who holds the address, recorded or taken in this batch ("" nobody)."""
        return self.subnet.allocations.get(address) or self.pending.get(address, "")

    def check_address(self, address: str, device_owner: str) -> str:
        """``Subnet.check_address``, counting the addresses this batch took."""
        shown = self.subnet.check_address(address, device_owner)
        if shown in self.pending:
            raise self.subnet.in_use(shown)
        return shown

    def free(self) -> int:
        """How many addresses of the pools are not held."""
        total = sum(b - a + 1 for a, b in self.spans)
        return total - sum(1 for u in self.used if in_pools(u, self.spans))

    def choose(self, mac: str, also: set[int]) -> str | None:
        """A free address (from the MAC for SLAAC), None if none is left;
        ``also``: addresses chosen but not yet taken."""
        used = self.used | also if also else self.used
        if self.subnet.mac_derived:
            address = eui64_address(self.subnet.network, mac)
            return None if int(ipaddress.ip_address(address)) in used else address
        return next_free(self.spans, used, self.subnet.cursor, self.subnet.ip_version)

    def take(self, address: str, holder: str) -> None:
        """Hold a checked address for ``holder``; recorded by ``flush``."""
        self.subnet.require_live()
        if self.holder_of(address) not in ("", holder):
            raise self.subnet.in_use(address)
        if address not in self.subnet.allocations:
            self.pending[address] = holder
        self.used.add(int(ipaddress.ip_address(address)))

    def flush(self, actor: Actor) -> None:
        """Record what the batch took: one event for all of it."""
        if self.pending:
            taken, self.pending = self.pending, {}
            self.subnet.allocate_many(taken, actor)

    def give_back(self, address: str, holder: str, actor: Actor) -> None:
        if self.pending.get(address) == holder:
            del self.pending[address]
        else:
            self.subnet.release(address, holder, actor)
        self.used.discard(int(ipaddress.ip_address(address)))

    def give_back_many(self, held: dict[str, str], actor: Actor) -> None:
        self.subnet.release_many(held, actor)
        self.used.difference_update(int(ipaddress.ip_address(a)) for a in held)


def exhausted(network_id: str) -> NeutronConflict:
    """Neutron's 409 when a network has no address left for a port."""
    return NeutronConflict(
        f"No more IP addresses available on network {network_id}.",
        "IpAddressGenerationFailure",
    )


def checked_ipv6_modes(ip_version: int, ra_mode: str, address_mode: str) -> None:
    for what, mode in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
        if mode and mode not in IPV6_MODES:
            raise NeutronBadRequest(
                f"Invalid input for {what}: '{mode:.40}' is not in {IPV6_MODES}"
            )
        if mode and ip_version != 6:
            raise NeutronBadRequest(f"Invalid input for operation: {what} is set with ip_version 4")
    if ra_mode and address_mode and ra_mode != address_mode:
        raise NeutronBadRequest(
            "Invalid input for operation: ipv6_ra_mode set to"
            f" '{ra_mode}' with ipv6_address_mode set to '{address_mode}' is not valid."
        )


def overlapping(cidr: str, others: Sequence[str]) -> str | None:
    """The first of ``others`` that overlaps ``cidr`` (subnets of one network
    may not overlap; across networks they may)."""
    mine = ipaddress.ip_network(cidr)
    for other in others:
        theirs = ipaddress.ip_network(other)
        if theirs.version == mine.version and mine.overlaps(theirs):
            return other
    return None
