"""Value objects of the networking aggregates, as their events store them.

Addresses, CIDRs and MACs are kept as text in their canonical spelling
(``ipaddress``'s compressed form, lower-case MACs), so a stored event reads
the same to the API, the read models and the network workers."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

# Neutron's device owners: who a port belongs to.
OWNER_DHCP = "network:dhcp"
OWNER_ROUTER_INTERFACE = "network:router_interface"
OWNER_ROUTER_GATEWAY = "network:router_gateway"
COMPUTE_OWNER_PREFIX = "compute:"
# Ports the network itself owns go with it; they never keep it "in use".
NETWORK_OWNED = (OWNER_DHCP,)
ROUTER_OWNERS = (OWNER_ROUTER_INTERFACE, OWNER_ROUTER_GATEWAY)


@dataclass(frozen=True)
class FixedIp:
    """One address of a port: which subnet it came from."""

    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class AllocationPool:
    """A range of a subnet that addresses are handed out from (both ends in)."""

    start: str
    end: str


@dataclass(frozen=True)
class HostRoute:
    """A route a subnet's DHCP hands out, or a router's extra route."""

    destination: str
    nexthop: str


@dataclass(frozen=True)
class Segment:
    """How a network is carried between hosts: a VXLAN VNI, a VLAN id on a
    physical network, or a flat physical network (segmentation id 0)."""

    network_type: str  # "vxlan", "vlan" or "flat"
    physical_network: str  # "" for vxlan
    segmentation_id: int  # 0 for flat


@dataclass(frozen=True)
class SecurityGroupRule:
    """One rule of a security group, Neutron's attributes. ``protocol`` is
    as given (a name or a number as text), "" for any; the port range is
    ICMP's type and code for ICMP."""

    id: str
    direction: str  # "ingress" or "egress"
    ethertype: str  # "IPv4" or "IPv6"
    protocol: str
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str  # "" for none
    remote_group_id: str  # "" for none
    description: str = ""

    def same_match(self, other: SecurityGroupRule) -> bool:
        """Whether both rules allow the same traffic (Neutron refuses a
        duplicate with 409, whatever their ids and descriptions)."""
        return self._match() == other._match()

    def _match(self) -> tuple[object, ...]:
        return (
            self.direction,
            self.ethertype,
            _protocol_number(self.protocol),
            self.port_range_min,
            self.port_range_max,
            self.remote_ip_prefix,
            self.remote_group_id,
        )


# Neutron's protocol names and the IP protocol numbers they stand for.
PROTOCOL_NUMBERS: dict[str, int] = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "icmp": 1,
    "icmpv6": 58,
    "igmp": 2,
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
}


def _protocol_number(protocol: str) -> int | None:
    if not protocol:
        return None
    return PROTOCOL_NUMBERS.get(protocol, int(protocol) if protocol.isdigit() else -1)


# Values a copy may share: nothing changes them in place.
_IMMUTABLE: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    type(None),
    UUID,
    datetime,
    FixedIp,
    AllocationPool,
    HostRoute,
    Segment,
    SecurityGroupRule,
)


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {key: _copied(item, memo) for key, item in value.items()}
    if kind is list:
        return [_copied(item, memo) for item in value]
    return copy.deepcopy(value, memo)


class CopiedCheaply:
    """The repository hands out a copy of its cached aggregate on every load.
    A network's port list, a subnet's addresses and a group's members grow
    with the servers on them and are loaded by every boot, delete and
    network job: their state is text, numbers, frozen values, lists and
    dicts, copied here without ``deepcopy``'s generic machinery (about 3x
    faster); anything else still goes through ``deepcopy``."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update({name: _copied(v, memo) for name, v in self.__dict__.items()})
        return copied
