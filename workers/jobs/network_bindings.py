"""What the network drivers are told, worked out from the ledger's
aggregates: a port's binding on its network's segment, its security
filter (its groups' rules, remote groups as named sets of their members'
addresses), a network's DHCP service and a port's lease, a router's whole
spec. Every value the drivers get is checked again when made
(workers/drivers/network_specs.py); a rule the drivers cannot express
(a protocol other than TCP, UDP or ICMP) allows nothing rather than all."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands.app import CloudApp
from commands.loading import load_many
from domain.network import Network
from domain.network_values import OWNER_DHCP, SecurityGroupRule
from domain.port import Port
from domain.router import Router
from domain.security_group import SecurityGroup
from domain.subnet import Subnet
from workers.drivers.errors import PermanentDriverError
from workers.drivers.network_specs import (
    AddressSet,
    DhcpHost,
    DhcpService,
    DhcpSubnet,
    FilterRule,
    FloatingIp,
    PortFilter,
    RouterGateway,
    RouterInterface,
    RouterSpec,
)
from workers.drivers.network_types import PortBinding, Segment

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)

# Neutron's protocol names and numbers, as the drivers name them.
_PROTOCOLS = {
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "icmp": "icmp",
    "1": "icmp",
    "icmpv6": "icmpv6",
    "ipv6-icmp": "icmpv6",
    "58": "icmpv6",
}


class Ledger:
    """The aggregates one batch reads, each loaded once (networks, subnets
    and groups are shared by many of its ports), and what is worked out from
    a group once per batch: its rules as filter rules, its members' address
    sets (the same for every port of the group)."""

    def __init__(self, app: CloudApp) -> None:
        self.app = app
        self._found: dict[UUID, Aggregate | None] = {}
        self._rules: dict[UUID, list[FilterRule]] = {}
        self._sets: dict[tuple[str, str], AddressSet] = {}

    def filter_rules(self, group: SecurityGroup) -> list[FilterRule]:
        if group.id not in self._rules:
            self._rules[group.id] = filter_rules(group)
        return self._rules[group.id]

    def address_set(self, group: SecurityGroup | None, group_id: str, ethertype: str) -> AddressSet:
        key = (group_id, ethertype)
        if key not in self._sets:
            self._sets[key] = AddressSet(group_id, ethertype, members(group, ethertype))
        return self._sets[key]

    def preload(self, kind: type[A], ids: Iterable[str | UUID]) -> None:
        wanted = {UUID(str(i)) for i in ids if i} - set(self._found)
        if wanted:
            found = load_many(self.app, kind, wanted)
            for aggregate_id in wanted:
                self._found[aggregate_id] = found.get(aggregate_id)

    def find(self, kind: type[A], aggregate_id: str | UUID) -> A | None:
        key = UUID(str(aggregate_id))
        if key not in self._found:
            self.preload(kind, [key])
        found = self._found[key]
        return found if isinstance(found, kind) else None

    def must(self, kind: type[A], aggregate_id: str | UUID) -> A:
        found = self.find(kind, aggregate_id)
        if found is None:
            raise PermanentDriverError(f"no {kind.__name__} {aggregate_id} in the ledger")
        return found


def segment_of(network: Network, vteps: frozenset[str]) -> Segment:
    """The network's segment as a host plugs it: VXLAN floods to ``vteps``."""
    kind = network.segment.network_type
    return Segment(
        str(network.id),
        kind,
        segmentation_id=network.segment.segmentation_id if kind != "flat" else None,
        physical_network=network.segment.physical_network or None,
        mtu=network.mtu,
        vteps=vteps if kind == "vxlan" else frozenset(),
    )


def binding_of(port: Port, network: Network, vteps: frozenset[str]) -> PortBinding:
    return PortBinding(str(port.id), segment_of(network, vteps), port.mac_address)


def filter_of(port: Port, ledger: Ledger) -> PortFilter | None:
    """The port's filter, None with port security off (not filtered). A
    remote group is named, its members' addresses in the filter's address
    sets: a member joining changes the sets, not the port's rules."""
    if not port.port_security_enabled:
        return None
    ledger.preload(SecurityGroup, port.security_group_ids)
    groups = [g for g in (ledger.find(SecurityGroup, i) for i in port.security_group_ids) if g]
    groups = [g for g in groups if not g.deleted]
    remote_ids = {r.remote_group_id for g in groups for r in g.rules if r.remote_group_id}
    ledger.preload(SecurityGroup, remote_ids)
    rules: list[FilterRule] = []
    for group in groups:
        rules.extend(ledger.filter_rules(group))
    sets = {r.address_set: r for r in rules if r.address_set is not None}
    address_sets = tuple(address_set_of(r, ledger) for _, r in sorted(sets.items()))
    addresses = tuple(f.ip_address for f in port.fixed_ips)
    return PortFilter(str(port.id), port.mac_address, addresses, tuple(rules), address_sets)


def address_set_of(rule: FilterRule, ledger: Ledger) -> AddressSet:
    """The members' addresses of the rule's remote group, of its ethertype."""
    group_id = rule.remote_group or ""
    group = ledger.find(SecurityGroup, group_id) if group_id else None
    return ledger.address_set(group, group_id, rule.ethertype)


def filter_rules(group: SecurityGroup) -> list[FilterRule]:
    """The group's rules as the drivers take them (some allow nothing: left out)."""
    made = (_filter_rule(rule) for rule in group.rules)
    return [rule for rule in made if rule is not None]


def _filter_rule(rule: SecurityGroupRule) -> FilterRule | None:
    protocol = _PROTOCOLS.get(rule.protocol) if rule.protocol else None
    if rule.protocol and protocol is None:
        log.info(
            "rule %s: protocol %s is not filtered here: allows nothing", rule.id, rule.protocol
        )
        return None
    if protocol == "icmp" and rule.ethertype == "IPv6":
        protocol = "icmpv6"  # Neutron's icmp on an IPv6 rule
    if protocol == "icmpv6" and rule.ethertype == "IPv4":
        return None  # ICMPv6 on an IPv4 rule matches nothing
    remotes = (rule.remote_ip_prefix,) if rule.remote_ip_prefix else None
    remote_group = rule.remote_group_id if not remotes and rule.remote_group_id else None
    low, high = rule.port_range_min, rule.port_range_max
    if protocol not in ("tcp", "udp", "icmp", "icmpv6"):
        low = high = None
    if protocol in ("icmp", "icmpv6") and low is None:
        high = None
    return FilterRule(rule.direction, rule.ethertype, protocol, low, high, remotes, remote_group)


def members(group: SecurityGroup | None, ethertype: str) -> frozenset[str]:
    """The addresses of a remote group's members (none: it matches nobody)."""
    if group is None or group.deleted:
        return frozenset()
    v6 = ethertype == "IPv6"
    # The ledger's addresses are canonical (checked when allocated): an
    # IPv6 one has a colon, an IPv4 one none. AddressSet checks them again.
    return frozenset(
        address
        for addresses in group.members.values()
        for address in addresses
        if (":" in address) == v6
    )


def dhcp_subnet_of(network: Network, ledger: Ledger) -> Subnet | None:
    """The network's subnet its DHCP serves: its first live IPv4 one with DHCP on."""
    ledger.preload(Subnet, network.subnet_ids)
    for subnet_id in network.subnet_ids:
        subnet = ledger.find(Subnet, subnet_id)
        if (
            subnet is not None
            and not subnet.deleted
            and subnet.enable_dhcp
            and subnet.ip_version == 4
        ):
            return subnet
    return None


def dhcp_port_of(network: Network, ledger: Ledger) -> Port | None:
    ids = [p for p, entry in network.ports.items() if entry[0] == OWNER_DHCP]
    for port_id in ids:
        port = ledger.find(Port, port_id)
        if port is not None and not port.deleted:
            return port
    return None


def dhcp_service_of(
    network: Network, subnet: Subnet, dhcp_port: Port, vteps: frozenset[str]
) -> DhcpService | None:
    """The network's DHCP server on its DHCP port's address (None: it has none on the subnet)."""
    address = next(
        (f.ip_address for f in dhcp_port.fixed_ips if f.subnet_id == str(subnet.id)), None
    )
    if address is None:
        return None
    dhcp_subnet = DhcpSubnet(subnet.cidr, subnet.gateway_ip or None, tuple(subnet.dns_nameservers))
    return DhcpService(binding_of(dhcp_port, network, vteps), address, dhcp_subnet)


def dhcp_host_of(port: Port, subnet: Subnet) -> DhcpHost | None:
    """A port's static lease on the DHCP subnet, named by its address, as
    Neutron names hosts (``host-10-0-0-5``); None if it has no address there."""
    address = next((f.ip_address for f in port.fixed_ips if f.subnet_id == str(subnet.id)), None)
    if address is None or port.device_owner.startswith("network:"):
        return None
    return DhcpHost(str(port.id), port.mac_address, address, "host-" + address.replace(".", "-"))


def router_spec_of(router: Router, ledger: Ledger, vteps: frozenset[str]) -> RouterSpec:
    """The router as a whole: a leg per subnet interface, its gateway with
    the external subnet's gateway as next hop, its floating IPs."""
    ledger.preload(Port, [*router.interfaces, router.gateway_port_id])
    legs = []
    for port_id, (_, cidr, address) in sorted(router.interfaces.items()):
        port = ledger.must(Port, port_id)
        network = ledger.must(Network, port.network_id)
        prefixlen = ipaddress.ip_network(cidr).prefixlen
        legs.append(RouterInterface(binding_of(port, network, vteps), address, prefixlen))
    gateway = None
    v4 = [f for f in router.gateway_ips if ipaddress.ip_address(f.ip_address).version == 4]
    if router.gateway_port_id and v4:
        port = ledger.must(Port, router.gateway_port_id)
        network = ledger.must(Network, router.gateway_network_id)
        first = v4[0]
        subnet = ledger.must(Subnet, first.subnet_id)
        gateway = RouterGateway(
            binding_of(port, network, vteps),
            first.ip_address,
            ipaddress.ip_network(subnet.cidr).prefixlen,
            subnet.gateway_ip or None,
            router.enable_snat,
        )
    floating = tuple(
        FloatingIp(floating_address, fixed_address)
        for floating_address, fixed_address, _, _ in sorted(router.floating_ips.values())
    )
    return RouterSpec(str(router.id), tuple(legs), gateway, floating if gateway else ())
