"""Floating IPs: an address of an external network's subnet allocated on
that subnet in the save that makes the floating IP (so a thousand concurrent
creates each get a different address, or a clean 409, and usage is exact);
associated with a port reachable through a router, disassociated, deleted."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from commands.network_batch import NetworkBatch, NeutronNotFound, parse_id
from commands.network_port_changes import disassociate_in
from commands.network_ports import network_subnets
from commands.network_routers import routers_through
from domain.addressing import NeutronBadRequest, NeutronConflict, parse_address
from domain.floating_ip import FloatingIP
from domain.network import Network, require_name
from domain.port import Port
from domain.router import Router
from domain.subnet import Subnet, exhausted
from domain.values import Actor


@dataclass(frozen=True)
class FloatingIpSpec:
    floating_network_id: str
    floating_ip_address: str = ""  # "" for any (choosing one is for admins)
    subnet_id: str = ""
    port_id: str = ""
    fixed_ip_address: str = ""
    description: str = ""
    project_id: str = ""


def create_floating_ip_in(batch: NetworkBatch, spec: FloatingIpSpec, actor: Actor) -> FloatingIP:
    require_name(spec.description, "description")
    network = batch.visible(Network, spec.floating_network_id, actor)
    if not network.external:
        raise NeutronBadRequest(
            f"Bad floatingip request: Network {network.id} is not a valid external network.",
            "BadRequest",
        )
    project = spec.project_id or actor.project_id
    subnet, address = _address_for(batch, network, spec)
    quota = batch.quota(project)
    quota.check({"floatingip": 1})
    target = (
        _association(batch, None, network, project, spec.port_id, spec.fixed_ip_address, actor)
        if spec.port_id
        else None
    )
    floating_ip = FloatingIP(
        project_id=project,
        floating_network_id=str(network.id),
        subnet_id=str(subnet.id),
        floating_ip_address=address,
        description=spec.description,
        actor=actor,
    )
    batch.add(floating_ip)
    batch.allocator(subnet).take(address, str(floating_ip.id))
    quota.reserve(str(floating_ip.id), {"floatingip": 1}, actor)
    if target is not None:
        _associate(batch, floating_ip, target, actor)
    return floating_ip


def _address_for(batch: NetworkBatch, network: Network, spec: FloatingIpSpec) -> tuple[Subnet, str]:
    subnets = [s for s in network_subnets(batch, network) if s.ip_version == 4]
    if spec.subnet_id:
        wanted = parse_id(Subnet, spec.subnet_id)
        subnets = [s for s in subnets if s.id == wanted]
        if not subnets:
            raise NeutronBadRequest(
                f"Bad floatingip request: subnet {spec.subnet_id} is not an IPv4 subnet of"
                f" network {network.id}.",
                "BadRequest",
            )
    if spec.floating_ip_address:
        wanted_address = parse_address(spec.floating_ip_address, "floating_ip_address")
        for subnet in subnets:
            if wanted_address in subnet.network:
                checked = batch.allocator(subnet).check_address(
                    str(wanted_address), "network:floatingip"
                )
                return subnet, checked
        raise NeutronBadRequest(
            f"Bad floatingip request: {spec.floating_ip_address} is not an address of network"
            f" {network.id}.",
            "BadRequest",
        )
    for subnet in subnets:
        address = batch.allocator(subnet).choose("", set())
        if address is not None:
            return subnet, address
    raise exhausted(str(network.id))


@dataclass(frozen=True)
class _Target:
    port: Port
    fixed_ip: str
    subnet_id: str
    router: Router


def _association(
    batch: NetworkBatch,
    floating_ip: FloatingIP | None,
    network: Network,
    project: str,
    port_id: str,
    fixed_ip: str,
    actor: Actor,
) -> _Target:
    """Where a floating IP would reach, checked (nothing changed yet)."""
    port = batch.visible(Port, port_id, actor)
    if port.project_id != project and not actor.is_admin:
        raise NeutronNotFound(Port, port.id)
    if port.network_id == str(network.id):
        raise NeutronBadRequest(
            f"Bad floatingip request: Port {port.id} is on the floating IP's own network.",
            "BadRequest",
        )
    v4 = [f for f in port.fixed_ips if ipaddress.ip_address(f.ip_address).version == 4]
    if fixed_ip:
        chosen = [f for f in v4 if f.ip_address == str(parse_address(fixed_ip, "fixed_ip_address"))]
        if not chosen:
            raise NeutronBadRequest(
                f"Bad floatingip request: Port {port.id} does not have fixed ip {fixed_ip}.",
                "BadRequest",
            )
    elif not v4:
        raise NeutronBadRequest(
            f"Bad floatingip request: Port {port.id} does not have any IPv4 address.",
            "BadRequest",
        )
    fixed = (chosen if fixed_ip else v4)[0]
    own = str(floating_ip.id) if floating_ip is not None else ""
    taken = [f for f, ip in port.floating_ips.items() if ip == fixed.ip_address and f != own]
    if taken:
        raise NeutronConflict(
            f"Cannot associate floating IP with port {port.id} using fixed IP"
            f" {fixed.ip_address}, as that fixed IP already has a floating IP {taken[0]}.",
            "FloatingIPPortAlreadyAssociated",
        )
    port_network = batch.get(Network, port.network_id)
    for router in routers_through(batch, port_network):
        if router.routes_floating_ip(str(network.id), fixed.subnet_id):
            return _Target(port, fixed.ip_address, fixed.subnet_id, router)
    error = NeutronNotFound(Network, network.id)
    error.message = (
        f"External network {network.id} is not reachable from subnet {fixed.subnet_id}."
        f" Therefore, cannot associate Port {port.id} with a Floating IP."
    )
    error.args = (error.message,)
    error.neutron_type = "ExternalGatewayForFloatingIPNotFound"
    raise error


def _associate(batch: NetworkBatch, floating_ip: FloatingIP, target: _Target, actor: Actor) -> None:
    disassociate_in(batch, floating_ip, actor)
    target.port.attach_floating_ip(str(floating_ip.id), target.fixed_ip, actor)
    target.router.route_floating_ip(
        str(floating_ip.id),
        floating_ip.floating_ip_address,
        target.fixed_ip,
        str(target.port.id),
        target.subnet_id,
        actor,
    )
    floating_ip.associate(str(target.port.id), target.fixed_ip, str(target.router.id), actor)


def update_floating_ip_in(
    batch: NetworkBatch,
    floating_ip_id: str,
    port_id: str | object | None,
    fixed_ip: str,
    description: str | None,
    actor: Actor,
) -> FloatingIP:
    """``port_id``: a port to reach, None to disassociate, anything else to leave."""
    floating_ip = batch.visible(FloatingIP, floating_ip_id, actor)
    if description is not None:
        require_name(description, "description")
    target = None
    if isinstance(port_id, str):
        network = batch.get(Network, floating_ip.floating_network_id)
        target = _association(
            batch, floating_ip, network, floating_ip.project_id, port_id, fixed_ip, actor
        )
    if description is not None:
        floating_ip.update_description(description, actor)
    if target is not None:
        _associate(batch, floating_ip, target, actor)
    elif port_id is None:
        disassociate_in(batch, floating_ip, actor)
    return floating_ip


def delete_floating_ip_in(batch: NetworkBatch, floating_ip_id: str, actor: Actor) -> FloatingIP:
    floating_ip = batch.visible(FloatingIP, floating_ip_id, actor)
    disassociate_in(batch, floating_ip, actor)
    subnet = batch.find(Subnet, parse_id(Subnet, floating_ip.subnet_id))
    if subnet is not None and not subnet.deleted:
        batch.allocator(subnet).give_back(
            floating_ip.floating_ip_address, str(floating_ip.id), actor
        )
    batch.quota(floating_ip.project_id).release(str(floating_ip.id), actor)
    floating_ip.delete(actor)
    return floating_ip
