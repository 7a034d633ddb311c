"""Address arithmetic of subnets: CIDRs, allocation pools, gateways, and
choosing a free address, without ever listing a range (a pool may be a
whole IPv6 /64). Pure functions; no I/O."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Sequence, Set

from domain.errors import Conflict, InvalidInput
from domain.network_values import AllocationPool, HostRoute

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_POOLS = 64
MAX_DNS_NAMESERVERS = 5  # Neutron's max_dns_nameservers
MAX_HOST_ROUTES = 20  # Neutron's max_subnet_host_routes


class NeutronBadRequest(InvalidInput):
    """A 400 with Neutron's exception name."""

    def __init__(self, message: str, neutron_type: str = "BadRequest") -> None:
        super().__init__(message)
        self.neutron_type = neutron_type


class NeutronConflict(Conflict):
    """A 409 with Neutron's exception name."""

    def __init__(self, message: str, neutron_type: str = "Conflict") -> None:
        super().__init__(message)
        self.neutron_type = neutron_type


def parse_address(text: str, what: str = "IP address") -> Address:
    if not isinstance(text, str) or not text or len(text) > 64:
        raise NeutronBadRequest(
            f"Invalid input for {what}: {str(text)[:64]!r} is not an IP address"
        )
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise NeutronBadRequest(
            f"Invalid input for {what}: '{text[:64]}' is not a valid IP address."
        ) from None


def parse_cidr(text: str, what: str = "cidr") -> Network:
    """A subnet CIDR as Neutron takes it: with a length, host bits zero (it
    says which CIDR was meant), and never a /0, which names every address."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise NeutronBadRequest(f"Invalid input for {what}: {str(text)[:64]!r} is not a CIDR")
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NeutronBadRequest(
            f"Invalid input for {what}: '{text}' is not a valid IP subnet."
        ) from None
    if "/" not in text or _strict(text) is None:
        raise NeutronBadRequest(
            f"Invalid input for {what}: '{text}' isn't a recognized IP subnet cidr,"
            f" '{loose}' is recommended"
        )
    if loose.prefixlen == 0:
        raise NeutronBadRequest(f"Invalid input for {what}: a /0 is not a subnet")
    return loose


def _strict(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None


def parse_prefix(text: str, what: str = "remote_ip_prefix") -> Network:
    """A prefix of a security group rule or a route: host bits are dropped
    (Neutron normalises them), but it must parse and carry a length."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise NeutronBadRequest(f"Invalid input for {what}: {str(text)[:64]!r} is not a CIDR")
    try:
        if "/" not in text:
            raise ValueError(text)
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NeutronBadRequest(
            f"Invalid input for {what}: '{text[:64]}' is not a valid IP subnet.",
            "InvalidCIDR",
        ) from None


def first_host(cidr: Network) -> Address:
    """The conventional gateway: the subnet's first address after its own."""
    return cidr.network_address + 1 if cidr.num_addresses > 1 else cidr.network_address


def usable_bounds(cidr: Network) -> tuple[int, int]:
    """The first and last address a port may hold: IPv4 loses its network
    and broadcast addresses (not /31 and /32), IPv6 its subnet-router anycast."""
    low, high = int(cidr.network_address), int(cidr.broadcast_address)
    if cidr.version == 4 and cidr.prefixlen < 31:
        return low + 1, high - 1
    if cidr.version == 6 and cidr.prefixlen < 127:
        return low + 1, high
    return low, high


def default_pools(cidr: Network, gateway: Address | None) -> list[AllocationPool]:
    """Every usable address but the gateway, as Neutron makes it."""
    low, high = usable_bounds(cidr)
    spans = [(low, high)]
    if gateway is not None and low <= int(gateway) <= high:
        g = int(gateway)
        spans = [(low, g - 1), (g + 1, high)]
    v = cidr.version
    return [AllocationPool(address_text(a, v), address_text(b, v)) for a, b in spans if a <= b]


def checked_pools(
    cidr: Network, pools: Sequence[AllocationPool], gateway: Address | None
) -> list[AllocationPool]:
    """The pools in canonical spelling, each inside the subnet's usable
    range, none overlapping another or holding the gateway."""
    if len(pools) > MAX_POOLS:
        raise NeutronBadRequest(f"At most {MAX_POOLS} allocation pools per subnet")
    spans: list[tuple[int, int]] = []
    low, high = usable_bounds(cidr)
    for pool in pools:
        start = parse_address(pool.start, "allocation_pools")
        end = parse_address(pool.end, "allocation_pools")
        shown = f"{pool.start[:64]}-{pool.end[:64]}"
        if start.version != cidr.version or end.version != cidr.version or int(start) > int(end):
            raise NeutronBadRequest(
                f"The allocation pool {shown} is not valid.", "InvalidAllocationPool"
            )
        if int(start) < low or int(end) > high:
            raise NeutronBadRequest(
                f"The allocation pool {shown} spans beyond the subnet cidr {cidr}.",
                "OutOfBoundsAllocationPool",
            )
        spans.append((int(start), int(end)))
    spans.sort()
    for (_, end_a), (start_b, _) in itertools.pairwise(spans):
        if start_b <= end_a:
            raise NeutronConflict(
                "Found overlapping allocation pools in subnet " + str(cidr),
                "OverlappingAllocationPools",
            )
    if gateway is not None and any(a <= int(gateway) <= b for a, b in spans):
        raise NeutronConflict(
            f"Gateway ip {gateway} conflicts with allocation pool(s)",
            "GatewayConflictWithAllocationPools",
        )
    v = cidr.version
    return [AllocationPool(address_text(a, v), address_text(b, v)) for a, b in spans]


def pool_spans(pools: Iterable[AllocationPool]) -> list[tuple[int, int]]:
    return sorted(
        (int(ipaddress.ip_address(p.start)), int(ipaddress.ip_address(p.end))) for p in pools
    )


def pool_size(pools: Iterable[AllocationPool]) -> int:
    return sum(b - a + 1 for a, b in pool_spans(pools))


def in_pools(address: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a <= address <= b for a, b in spans)


def next_free(
    spans: Sequence[tuple[int, int]], used: Set[int], after: int, version: int
) -> str | None:
    """The first address of the pools not in ``used``, looking from just
    past ``after`` and wrapping around, so a freed address is not handed
    out again at once (a guest may still hold it). Looks at no more than
    ``len(used) + 1`` addresses per pool: never the whole of a large one."""
    ranges = [(max(a, after + 1), b) for a, b in spans] + [(a, min(b, after)) for a, b in spans]
    for low, high in ranges:
        candidate = low
        while candidate <= high:
            if candidate not in used:
                return address_text(candidate, version)
            candidate += 1
    return None


def address_text(value: int, version: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def eui64_address(cidr: Network, mac: str) -> str:
    """SLAAC's address of a MAC on a /64 (RFC 4291's modified EUI-64)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    interface = [*octets[:3], 255, 254, *octets[3:]]
    return str(ipaddress.IPv6Address(int(cidr.network_address) | int.from_bytes(bytes(interface))))


def checked_nameservers(servers: Sequence[str], subnet_id: str = "") -> list[str]:
    if len(servers) > MAX_DNS_NAMESERVERS:
        raise NeutronBadRequest(
            f"Unable to complete operation for {subnet_id or 'the subnet'}. The number of DNS"
            f" nameservers exceeds the limit {MAX_DNS_NAMESERVERS}.",
            "DNSNameServersExhausted",
        )
    shown = [str(parse_address(s, "dns_nameservers")) for s in servers]
    if len(set(shown)) != len(shown):
        raise NeutronBadRequest("Duplicate nameserver in dns_nameservers")
    return shown


def checked_routes(
    routes: Sequence[HostRoute], version: int | None, what: str = "host_routes"
) -> list[HostRoute]:
    if len(routes) > MAX_HOST_ROUTES:
        raise NeutronBadRequest(
            f"The number of {what} exceeds the limit {MAX_HOST_ROUTES}.", "HostRoutesExhausted"
        )
    checked = []
    for route in routes:
        destination = parse_prefix(route.destination, f"{what} destination")
        nexthop = parse_address(route.nexthop, f"{what} nexthop")
        if destination.version != nexthop.version or (version and nexthop.version != version):
            raise NeutronBadRequest(f"Invalid input for {what}: mixed IP versions in a route")
        checked.append(HostRoute(str(destination), str(nexthop)))
    if len(set(checked)) != len(checked):
        raise NeutronBadRequest(f"Duplicate route in {what}")
    return checked
