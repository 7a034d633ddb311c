"""What DHCP, routers and security groups are told, as frozen values checked
when made: every field that reaches a config file or a ruleset is a
validated address, MAC, number or id, never free text."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from workers.drivers.errors import PermanentDriverError
from workers.drivers.network_types import (
    PortBinding,
    canonical_id,
    check_cidr,
    check_hostname,
    check_ip,
    check_mac,
    hex_id,
)

METADATA_ADDRESS = "169.254.169.254"
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}


@dataclass(frozen=True)
class DhcpSubnet:
    """The IPv4 subnet a network's DHCP server answers for."""

    cidr: str
    gateway_ip: str | None = None
    dns_nameservers: tuple[str, ...] = ()
    lease_seconds: int = 86400

    def __post_init__(self) -> None:
        cidr = check_cidr(self.cidr)
        if ipaddress.ip_network(cidr).version != 4:
            raise PermanentDriverError("DHCP serves IPv4 subnets only")
        object.__setattr__(self, "cidr", cidr)
        if self.gateway_ip is not None:
            object.__setattr__(self, "gateway_ip", _inside(self.gateway_ip, cidr))
        servers = tuple(check_ip(s) for s in self.dns_nameservers)
        object.__setattr__(self, "dns_nameservers", servers)
        if not 120 <= self.lease_seconds <= 1 << 30:
            raise PermanentDriverError(f"lease time out of range: {self.lease_seconds}")


@dataclass(frozen=True)
class DhcpService:
    """A network's DHCP server: its own port, its address on the subnet, and
    whether it also answers the metadata address (169.254.169.254)."""

    port: PortBinding
    address: str
    subnet: DhcpSubnet
    metadata: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", _inside(self.address, self.subnet.cidr))

    @property
    def network_id(self) -> str:
        return self.port.segment.network_id


@dataclass(frozen=True)
class DhcpHost:
    """One static lease: the port's MAC gets ``ip`` and ``hostname``."""

    port_id: str
    mac: str
    ip: str
    hostname: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "port_id", canonical_id(self.port_id))
        object.__setattr__(self, "mac", check_mac(self.mac.lower()))
        object.__setattr__(self, "ip", check_ip(self.ip))
        check_hostname(self.hostname)


@dataclass(frozen=True)
class DhcpState:
    """A DHCP service as a host reports it. ``leases`` maps MAC to address
    for clients that took their lease; ``metadata`` is whether its metadata
    proxy is serving."""

    network_id: str
    running: bool
    hosts: frozenset[DhcpHost]
    leases: dict[str, str]
    metadata: bool = False


@dataclass(frozen=True)
class RouterInterface:
    """A router's leg on a tenant subnet: its port and ``address/prefixlen``."""

    port: PortBinding
    address: str
    prefixlen: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_ip(self.address))
        _network(self.address, self.prefixlen)

    @property
    def cidr(self) -> str:
        return _network(self.address, self.prefixlen)


@dataclass(frozen=True)
class RouterGateway:
    """A router's leg on the external network, its next hop there, and
    whether tenant subnets leave through it by SNAT."""

    port: PortBinding
    address: str
    prefixlen: int
    next_hop: str | None = None
    snat: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", check_ip(self.address))
        cidr = _network(self.address, self.prefixlen)
        if self.next_hop is not None:
            object.__setattr__(self, "next_hop", _inside(self.next_hop, cidr))


@dataclass(frozen=True)
class FloatingIp:
    """``floating_ip`` on the external network stands for ``fixed_ip``."""

    floating_ip: str
    fixed_ip: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "floating_ip", check_ip(self.floating_ip))
        object.__setattr__(self, "fixed_ip", check_ip(self.fixed_ip))


@dataclass(frozen=True)
class RouterSpec:
    """Everything a router should be, as a whole: ensure_router converges on it."""

    router_id: str
    interfaces: tuple[RouterInterface, ...] = ()
    gateway: RouterGateway | None = None
    floating_ips: tuple[FloatingIp, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "router_id", canonical_id(self.router_id))
        if self.floating_ips and self.gateway is None:
            raise PermanentDriverError("floating IPs need the router's external gateway")
        fips = [f.floating_ip for f in self.floating_ips]
        if len(set(fips)) != len(fips):
            raise PermanentDriverError(f"a floating IP is given twice: {fips}")


@dataclass(frozen=True)
class RouterState:
    """A router as the network node reports it."""

    router_id: str
    interface_ports: frozenset[str]
    gateway_port: str | None
    floating_ips: frozenset[FloatingIp]


@dataclass(frozen=True)
class AddressSet:
    """The addresses of a remote group's members, of one ethertype: a named
    set on each host whose filters name the group (as Neutron's ipsets), so
    a member joining or leaving changes one set, not every member's rules."""

    group_id: str
    ethertype: str = "IPv4"
    addresses: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "group_id", canonical_id(self.group_id))
        if self.ethertype not in ("IPv4", "IPv6"):
            raise PermanentDriverError(f"unknown ethertype {self.ethertype!r}")
        version = 4 if self.ethertype == "IPv4" else 6
        parsed = [_address(a) for a in self.addresses]
        if any(a.version != version for a in parsed):
            raise PermanentDriverError(f"an address is not {self.ethertype}: {self.addresses}")
        object.__setattr__(self, "addresses", frozenset(str(a) for a in parsed))

    @property
    def name(self) -> str:
        """``sg4-`` or ``sg6-`` and the group's 32 hex digits."""
        return address_set_name(self.group_id, self.ethertype)


def address_set_name(group_id: str, ethertype: str) -> str:
    return f"sg{ethertype[-1]}-{hex_id(group_id)}"


@dataclass(frozen=True)
class FilterRule:
    """One security group rule. Its remote is ``remotes`` (CIDRs; None: any
    address, (): nobody) or ``remote_group``, a group whose members'
    addresses the filter's ``address_sets`` hold (kept current apart)."""

    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    remotes: tuple[str, ...] | None = None
    remote_group: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("ingress", "egress"):
            raise PermanentDriverError(f"unknown direction {self.direction!r}")
        if self.ethertype not in ("IPv4", "IPv6"):
            raise PermanentDriverError(f"unknown ethertype {self.ethertype!r}")
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise PermanentDriverError(f"unknown protocol {self.protocol!r}")
        _check_ports(self)
        if self.remotes is not None:
            version = 4 if self.ethertype == "IPv4" else 6
            remotes = tuple(sorted({check_cidr(_as_cidr(r)) for r in self.remotes}))
            if any(ipaddress.ip_network(r).version != version for r in remotes):
                raise PermanentDriverError(f"a remote is not {self.ethertype}: {remotes}")
            object.__setattr__(self, "remotes", remotes)
        if self.remote_group is not None:
            if self.remotes is not None:
                raise PermanentDriverError("a rule has remote CIDRs or a remote group, not both")
            object.__setattr__(self, "remote_group", canonical_id(self.remote_group))

    @property
    def address_set(self) -> str | None:
        """The name of the set of its remote group's addresses, if it has one."""
        if self.remote_group is None:
            return None
        return address_set_name(self.remote_group, self.ethertype)


@dataclass(frozen=True)
class PortFilter:
    """A port's security: its own MAC and addresses (nothing else may leave
    it) and the rules that let traffic in and out (nothing else may)."""

    port_id: str
    mac: str
    addresses: tuple[str, ...]
    rules: tuple[FilterRule, ...]
    # The sets its rules' remote groups name, as they are now: made or
    # refilled with the filter, then kept current by ensure_address_sets.
    # Not part of the digest: a member joining changes no port's rules.
    address_sets: tuple[AddressSet, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "port_id", canonical_id(self.port_id))
        object.__setattr__(self, "mac", check_mac(self.mac.lower()))
        object.__setattr__(self, "addresses", tuple(sorted({check_ip(a) for a in self.addresses})))
        given = {s.name for s in self.address_sets}
        named = {r.address_set for r in self.rules if r.address_set is not None}
        if given != named or len(given) != len(self.address_sets):
            raise PermanentDriverError(
                f"a filter's address sets must be those its rules name once: {sorted(named)}"
            )

    @property
    def digest(self) -> str:
        """A short fingerprint of what the filter lets through, stored beside
        the rules so a reconcile can tell stale rules from current ones."""
        text = repr((self.mac, self.addresses, sorted(self.rules, key=repr)))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FilterState:
    """A port's filter as a host reports it."""

    port_id: str
    digest: str


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address parsed once; a scoped IPv6 one (``fe80::1%eth0``) is no member."""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        raise PermanentDriverError(f"not an IP address: {value!r}") from None
    if getattr(parsed, "scope_id", None):
        raise PermanentDriverError(f"a scoped address is no member: {value!r}")
    return parsed


def _as_cidr(value: str) -> str:
    return value if "/" in value else f"{value}/{ipaddress.ip_address(value).max_prefixlen}"


def _network(address: str, prefixlen: int) -> str:
    try:
        return str(ipaddress.ip_interface(f"{address}/{prefixlen}").network)
    except ValueError:
        raise PermanentDriverError(f"bad prefix length {prefixlen} for {address}") from None


def _inside(address: str, cidr: str) -> str:
    ip = check_ip(address)
    if ipaddress.ip_address(ip) not in ipaddress.ip_network(cidr):
        raise PermanentDriverError(f"{ip} is not in {cidr}")
    return ip


def _check_ports(rule: FilterRule) -> None:
    if rule.port_min is None and rule.port_max is None:
        return
    low, high = rule.port_min, rule.port_max if rule.port_max is not None else rule.port_min
    if rule.protocol in ("icmp", "icmpv6"):
        # Neutron's meaning: port_min is the ICMP type, port_max its code.
        if low is None or not (0 <= low <= 255 and (high is None or 0 <= high <= 255)):
            raise PermanentDriverError(f"bad ICMP type/code: {low}/{high}")
        return
    if rule.protocol not in ("tcp", "udp"):
        raise PermanentDriverError("a port range needs tcp or udp")
    if low is None or high is None or not 1 <= low <= high <= 65535:
        raise PermanentDriverError(f"bad port range {low}-{high}")
