"""nftables rulesets for security groups on a host's bridges (pure text).

This kernel's bridge family has no connection tracking, so filtering is
split across two families (PLATFORM.md): the bridge family, which sees the
bridge port a frame enters or leaves by, sets a mark naming the port; the
inet family, whose hooks bridged IP traffic passes (br_netfilter) with
conntrack, matches that mark to the port's chain and filters statefully.

- egress (what a port sends) is marked at bridge prerouting and checked at
  inet prerouting, after conntrack has seen the packet;
- ingress (what a port receives) is marked at bridge forward, once the
  bridge knows the way out, and checked at inet forward.

Conntrack zones keep the flows of two networks apart on one host, even
with the same addresses (overlapping CIDRs): each bridge has its own zone.
Every change is one ``nft -f`` transaction: a packet meets the old rules or
the new ones, never a mix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.drivers.network_specs import PROTOCOLS, AddressSet, FilterRule, PortFilter

TABLE = "cloudledger_sg"
EGRESS_MARK = 0x10000000
INGRESS_MARK = 0x20000000
COMMENT = "cloudledger port {port} digest {digest}"


@dataclass(frozen=True)
class FilteredPort:
    """A port with a filter on this host: its tap and the mark index given
    to it in this ruleset."""

    tap: str
    index: int


def base_ruleset() -> list[str]:
    """Tables, maps and the dispatching chains, made if missing and their
    rules replaced (``add`` of what exists is a no-op; ``flush`` empties)."""
    return [
        f"add table bridge {TABLE}",
        f"add map bridge {TABLE} from_port {{ type ifname : mark; }}",
        f"add map bridge {TABLE} to_port {{ type ifname : mark; }}",
        f"add chain bridge {TABLE} mark_egress"
        " { type filter hook prerouting priority -300; policy accept; }",
        f"add chain bridge {TABLE} mark_ingress"
        " { type filter hook forward priority -300; policy accept; }",
        f"add table inet {TABLE}",
        f"add map inet {TABLE} zones {{ typeof iifname : ct zone; }}",
        f"add map inet {TABLE} egress {{ type mark : verdict; }}",
        f"add map inet {TABLE} ingress {{ type mark : verdict; }}",
        f"add chain inet {TABLE} zone"
        " { type filter hook prerouting priority -300; policy accept; }",
        f"add chain inet {TABLE} check_egress"
        " { type filter hook prerouting priority -150; policy accept; }",
        f"add chain inet {TABLE} check_ingress"
        " { type filter hook forward priority 0; policy accept; }",
        f"flush chain bridge {TABLE} mark_egress",
        f"flush chain bridge {TABLE} mark_ingress",
        f"flush chain inet {TABLE} zone",
        f"flush chain inet {TABLE} check_egress",
        f"flush chain inet {TABLE} check_ingress",
        f"add rule bridge {TABLE} mark_egress meta mark set iifname map @from_port",
        f"add rule bridge {TABLE} mark_ingress meta mark set 0",
        f"add rule bridge {TABLE} mark_ingress meta mark set oifname map @to_port",
        f"add rule inet {TABLE} zone ct zone set iifname map @zones",
        f"add rule inet {TABLE} check_egress meta mark vmap @egress",
        f"add rule inet {TABLE} check_ingress meta mark vmap @ingress",
    ]


def dispatch(ports: Sequence[FilteredPort], zones: Mapping[str, int]) -> list[str]:
    """The maps, refilled whole: each port's marks and chains, each bridge's zone."""
    lines = [f"flush map {family} {TABLE} {name}" for family, name in _MAPS]
    for port in ports:
        out, into = EGRESS_MARK | port.index, INGRESS_MARK | port.index
        lines += [
            f'add element bridge {TABLE} from_port {{ "{port.tap}" : {out:#x} }}',
            f'add element bridge {TABLE} to_port {{ "{port.tap}" : {into:#x} }}',
            f"add element inet {TABLE} egress {{ {out:#x} : jump out-{port.tap} }}",
            f"add element inet {TABLE} ingress {{ {into:#x} : jump in-{port.tap} }}",
        ]
    for bridge, zone in sorted(zones.items()):
        lines.append(f'add element inet {TABLE} zones {{ "{bridge}" : {zone} }}')
    return lines


_MAPS = (
    ("bridge", "from_port"),
    ("bridge", "to_port"),
    ("inet", "egress"),
    ("inet", "ingress"),
    ("inet", "zones"),
)


def port_chains(tap: str, port_filter: PortFilter) -> list[str]:
    """The port's two chains, made if missing and refilled."""
    comment = COMMENT.format(port=port_filter.port_id, digest=port_filter.digest)
    lines = []
    for direction, chain in (("egress", f"out-{tap}"), ("ingress", f"in-{tap}")):
        body = _egress_guard(port_filter) if direction == "egress" else _ingress_guard()
        body += ["ct state established,related accept", "ct state invalid drop"]
        body += [f"{match} accept" for match in _rule_matches(port_filter.rules, direction)]
        body.append(f'drop comment "{comment}"')
        lines += [f"add chain inet {TABLE} {chain}", f"flush chain inet {TABLE} {chain}"]
        lines += [f"add rule inet {TABLE} {chain} {rule}" for rule in body]
    return lines


def address_set_lines(address_set: AddressSet) -> list[str]:
    """The set made if missing and refilled (a packet sees the old members
    or the new ones: it is one transaction with the rest)."""
    kind = "ipv4_addr" if address_set.ethertype == "IPv4" else "ipv6_addr"
    name = address_set.name
    lines = [f"add set inet {TABLE} {name} {{ type {kind}; }}", f"flush set inet {TABLE} {name}"]
    if address_set.addresses:
        lines.append(f"add element inet {TABLE} {name} {_set(list(address_set.addresses))}")
    return lines


def delete_sets(names: Sequence[str]) -> list[str]:
    """Run after no chain names them."""
    return [f"delete set inet {TABLE} {name}" for name in sorted(names)]


def delete_port_chains(tap: str) -> list[str]:
    """Run after ``dispatch`` no longer jumps to them."""
    return [f"delete chain inet {TABLE} out-{tap}", f"delete chain inet {TABLE} in-{tap}"]


def _egress_guard(port_filter: PortFilter) -> list[str]:
    """What a port may send whatever its rules: only from its own MAC and
    addresses; DHCP requests but no DHCP answers; neighbour discovery."""
    v4 = [a for a in port_filter.addresses if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in port_filter.addresses if ipaddress.ip_address(a).version == 6]
    lines = [
        f"ether saddr != {port_filter.mac} drop",
        "meta nfproto ipv4 udp sport 68 udp dport 67 accept",
        "meta nfproto ipv4 udp sport 67 drop",
        "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept",
    ]
    lines.append(f"ip saddr != {_set(v4)} drop" if v4 else "meta nfproto ipv4 drop")
    lines.append(f"ip6 saddr != {_set([*v6, 'fe80::/10'])} drop")
    return lines


def _ingress_guard() -> list[str]:
    return [
        "meta nfproto ipv4 udp sport 67 udp dport 68 accept",
        "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
    ]


def _rule_matches(rules: Sequence[FilterRule], direction: str) -> list[str]:
    matches = []
    for rule in rules:
        if rule.direction != direction or rule.remotes == ():
            continue  # no remote CIDR matches nobody
        matches.append(_match(rule))
    return sorted(set(matches))


def _match(rule: FilterRule) -> str:
    v6 = rule.ethertype == "IPv6"
    parts = ["meta nfproto ipv6" if v6 else "meta nfproto ipv4"]
    side = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remotes:
        parts.append(f"{'ip6' if v6 else 'ip'} {side} {_set(list(rule.remotes))}")
    elif rule.address_set is not None:  # an empty set matches nobody
        parts.append(f"{'ip6' if v6 else 'ip'} {side} @{rule.address_set}")
    protocol = rule.protocol
    if protocol == "icmp" and v6:
        protocol = "icmpv6"  # what Neutron means by icmp on an IPv6 rule
    if protocol is not None:
        parts.append(f"meta l4proto {PROTOCOLS[protocol]}")
        parts += _port_match(rule, protocol)
    return " ".join(parts)


def _port_match(rule: FilterRule, protocol: str) -> list[str]:
    if rule.port_min is None:
        return []
    if protocol in ("icmp", "icmpv6"):
        found = [f"{protocol} type {rule.port_min}"]
        if rule.port_max is not None:
            found.append(f"{protocol} code {rule.port_max}")
        return found
    high = rule.port_max if rule.port_max is not None else rule.port_min
    span = str(rule.port_min) if high == rule.port_min else f"{rule.port_min}-{high}"
    return [f"th dport {span}"]


def _set(items: Sequence[str]) -> str:
    return "{ " + ", ".join(sorted(items)) + " }"
