"""Subnets: made (their CIDR given, or carved from a subnet pool) with
their quota, changed, deleted while no port but the network's DHCP port
holds an address of them. A network's DHCP port holds an address on each
of its DHCP-enabled subnets: the address its DHCP server answers from."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from commands.network_batch import NetworkBatch, NeutronForbidden, NeutronNotFound
from commands.network_port_changes import delete_port_in
from commands.network_ports import FixedIpRequest, PortSpec, create_port_in, network_subnets
from commands.network_subnet_pools import release_pool_prefix
from commands.networks import owned_network
from domain.addressing import (
    NeutronBadRequest,
    checked_nameservers,
    checked_pools,
    checked_routes,
    default_pools,
    first_host,
    parse_address,
    parse_cidr,
    usable_bounds,
)
from domain.network import Network, require_name
from domain.network_values import OWNER_DHCP, AllocationPool, FixedIp, HostRoute
from domain.port import Port
from domain.subnet import Subnet, checked_ipv6_modes, overlapping
from domain.subnet_pool import SubnetPool
from domain.values import Actor

AUTO = "auto"  # a subnet's gateway when none was given: the first host


@dataclass(frozen=True)
class SubnetSpec:
    network_id: str
    cidr: str
    ip_version: int = 4
    name: str = ""
    description: str = ""
    gateway_ip: str | None = AUTO  # None: no gateway
    allocation_pools: tuple[AllocationPool, ...] | None = None
    enable_dhcp: bool = True
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    ipv6_ra_mode: str = ""
    ipv6_address_mode: str = ""
    project_id: str = ""
    subnetpool_id: str = ""  # carve the CIDR (or check it) from this pool
    prefixlen: int | None = None  # the pool's default when None


def create_subnet_in(batch: NetworkBatch, spec: SubnetSpec, actor: Actor) -> Subnet:
    network = owned_network(batch, spec.network_id, actor)
    require_name(spec.name, "name")
    require_name(spec.description, "description")
    if spec.ip_version not in (4, 6):
        raise NeutronBadRequest(
            f"Invalid input for ip_version. Reason: '{spec.ip_version}' is not in [4, 6].",
            "HTTPBadRequest",
        )
    pool = _pool_for(batch, spec, actor)
    cidr = _cidr_for(pool, spec)
    if cidr.version != spec.ip_version:
        raise NeutronBadRequest(
            "Invalid input for operation: ip_version and the cidr's version differ.",
            "InvalidInput",
        )
    checked_ipv6_modes(spec.ip_version, spec.ipv6_ra_mode, spec.ipv6_address_mode)
    if spec.ipv6_address_mode in ("slaac", "dhcpv6-stateless") and cidr.prefixlen != 64:
        raise NeutronBadRequest(
            f"Invalid input for operation: Invalid CIDR {cidr} for IPv6 address mode. OpenStack"
            " uses the EUI-64 address format, which requires the prefix to be /64.",
            "InvalidInput",
        )
    siblings = network_subnets(batch, network)
    clash = overlapping(str(cidr), [s.cidr for s in siblings])
    if clash is not None:
        raise NeutronBadRequest(
            f"Invalid input for operation: Requested subnet with cidr: {cidr} for network:"
            f" {network.id} overlaps with another subnet.",
            "InvalidInput",
        )
    gateway = _gateway(cidr, spec.gateway_ip)
    gateway_address = ipaddress.ip_address(gateway) if gateway else None
    pools = (
        default_pools(cidr, gateway_address)
        if spec.allocation_pools is None
        else checked_pools(cidr, spec.allocation_pools, gateway_address)
    )
    servers = checked_nameservers(spec.dns_nameservers)
    routes = checked_routes(spec.host_routes, spec.ip_version)
    project = spec.project_id or actor.project_id
    quota = batch.quota(project)
    quota.check({"subnet": 1})
    subnet = Subnet(
        project_id=project,
        network_id=str(network.id),
        name=spec.name,
        description=spec.description,
        ip_version=spec.ip_version,
        cidr=str(cidr),
        gateway_ip=gateway,
        allocation_pools=pools,
        enable_dhcp=spec.enable_dhcp,
        dns_nameservers=servers,
        host_routes=routes,
        ipv6_ra_mode=spec.ipv6_ra_mode,
        ipv6_address_mode=spec.ipv6_address_mode,
        subnetpool_id=str(pool.id) if pool is not None else "",
        actor=actor,
    )
    batch.add(subnet)
    if pool is not None:
        pool.allocate(str(cidr), str(subnet.id), actor)
    network.add_subnet(str(subnet.id), actor)
    quota.reserve(str(subnet.id), {"subnet": 1}, actor)
    if subnet.enable_dhcp:
        serve_dhcp_on(batch, network, subnet, actor)
    return subnet


def _pool_for(batch: NetworkBatch, spec: SubnetSpec, actor: Actor) -> SubnetPool | None:
    if not spec.subnetpool_id:
        if not spec.cidr:
            raise NeutronBadRequest("Bad subnets request: a cidr or a subnetpool_id is required")
        return None
    pool = batch.visible(SubnetPool, spec.subnetpool_id, actor)
    if pool.ip_version != spec.ip_version:
        raise NeutronBadRequest(
            f"Invalid input: ip_version {spec.ip_version} differs from the subnet pool's",
            "InvalidInput",
        )
    return pool


def _cidr_for(
    pool: SubnetPool | None, spec: SubnetSpec
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The subnet's CIDR: as given (and free in its pool, if any), or the
    pool's next free one of the asked (or default) length."""
    if pool is None:
        return parse_cidr(spec.cidr)
    if spec.cidr:
        return ipaddress.ip_network(pool.check_cidr(parse_cidr(spec.cidr)))
    return ipaddress.ip_network(pool.choose(spec.prefixlen or pool.default_prefixlen))


def _gateway(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network, given: str | None) -> str:
    if given is None or given == "":
        return ""
    if given == AUTO:
        return str(first_host(cidr)) if cidr.num_addresses > 2 else ""
    address = parse_address(given, "gateway_ip")
    low, high = usable_bounds(cidr)
    if address.version != cidr.version or not (
        low <= int(address) <= high or (cidr.version == 6 and address in cidr)
    ):
        raise NeutronBadRequest(
            f"Invalid input for operation: Gateway IP {given} is not in subnet {cidr}.",
            "InvalidInput",
        )
    return str(address)


def owned_subnet(batch: NetworkBatch, subnet_id: str, actor: Actor) -> tuple[Subnet, Network]:
    """A subnet the caller may change (404 if it cannot see it, 403 if it
    only sees it through a shared network)."""
    subnet = batch.get(Subnet, subnet_id)
    network = batch.get(Network, subnet.network_id)
    if not (network.visible_to(actor) and (network.owned_by(actor) or network.shared)):
        raise NeutronNotFound(Subnet, subnet.id)
    if not (actor.is_admin or subnet.project_id == actor.project_id):
        raise NeutronForbidden(f"The subnet {subnet.id} is not the caller's to change")
    return subnet, network


def update_subnet_in(
    batch: NetworkBatch, subnet_id: str, changes: dict[str, object], actor: Actor
) -> Subnet:
    subnet, network = owned_subnet(batch, subnet_id, actor)
    for key in ("name", "description"):
        if key in changes:
            require_name(changes[key], key)
    was_serving = subnet.enable_dhcp
    subnet.update(changes, actor)
    if subnet.enable_dhcp and not was_serving:
        serve_dhcp_on(batch, network, subnet, actor)
    elif was_serving and not subnet.enable_dhcp:
        stop_dhcp_on(batch, network, subnet, actor)
    return subnet


def delete_subnet_in(batch: NetworkBatch, subnet_id: str, actor: Actor) -> Subnet:
    """409 SubnetInUse while any port but the network's DHCP holds an address."""
    subnet, network = owned_subnet(batch, subnet_id, actor)
    dhcp = dhcp_port(batch, network)
    owners = {str(dhcp.id): OWNER_DHCP} if dhcp is not None else {}
    held = [h for h in subnet.allocations.values() if h not in owners]
    if held:
        subnet.delete(owners, actor)  # raises SubnetInUse, having changed nothing
    stop_dhcp_on(batch, network, subnet, actor)
    subnet.delete(owners, actor)
    release_pool_prefix(batch, subnet, actor)
    network.remove_subnet(str(subnet.id), actor)
    batch.quota(subnet.project_id).release(str(subnet.id), actor)
    return subnet


def dhcp_port(batch: NetworkBatch, network: Network) -> Port | None:
    for port_id, entry in network.ports.items():
        if entry[0] == OWNER_DHCP:
            return batch.get(Port, port_id)
    pending = batch.network_ports.get(network.id)
    for port_id, (owner, _, _) in (pending[1] if pending else {}).items():
        if owner == OWNER_DHCP:
            return batch.get(Port, port_id)
    return None


def serve_dhcp_on(batch: NetworkBatch, network: Network, subnet: Subnet, actor: Actor) -> None:
    """The network's DHCP port gets an address on the subnet (the port is
    made with the first one). A subnet with no free address gets none."""
    if batch.allocator(subnet).choose("", set()) is None and not subnet.mac_derived:
        return
    if subnet.mac_derived:
        return  # SLAAC: the guests configure themselves; no DHCP address needed
    port = dhcp_port(batch, network)
    if port is None:
        spec = PortSpec(
            network_id=str(network.id),
            fixed_ips=(FixedIpRequest(subnet_id=str(subnet.id)),),
            device_id=f"dhcp-{network.id}",
            device_owner=OWNER_DHCP,
            project_id=network.project_id,
        )
        create_port_in(batch, spec, actor)
        return
    address = batch.allocator(subnet).choose(port.mac_address, set())
    if address is None:
        return
    batch.allocator(subnet).take(address, str(port.id))
    port.change_fixed_ips([*port.fixed_ips, FixedIp(str(subnet.id), address)], actor)


def stop_dhcp_on(batch: NetworkBatch, network: Network, subnet: Subnet, actor: Actor) -> None:
    """The DHCP port lets go of its address on the subnet (and goes with its last)."""
    port = dhcp_port(batch, network)
    if port is None:
        return
    mine = [f for f in port.fixed_ips if f.subnet_id == str(subnet.id)]
    rest = [f for f in port.fixed_ips if f.subnet_id != str(subnet.id)]
    if not mine:
        return
    if not rest:
        delete_port_in(batch, port, actor)
        return
    for fixed in mine:
        batch.allocator(subnet).give_back(fixed.ip_address, str(port.id), actor)
    port.change_fixed_ips(rest, actor)
