"""Ports: made (by the Networking API, a boot, a router, a network's DHCP),
changed and deleted, each with everything that goes with it in the same
save: its addresses allocated on (or released to) their subnets, its MAC
claimed, its network's and security groups' lists, its quota, the floating
IPs that reach it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from uuid import UUID

from commands.network_batch import NetworkBatch, NeutronForbidden, NeutronNotFound, parse_id
from commands.network_macs import mac_for
from commands.network_security import group_for_port
from domain.addressing import NeutronBadRequest, NeutronConflict, parse_address
from domain.network import Network, require_name
from domain.network_values import FixedIp
from domain.port import MAX_FIXED_IPS, Port, checked_host
from domain.security_group import SecurityGroup
from domain.subnet import Subnet, exhausted
from domain.values import Actor


@dataclass(frozen=True)
class FixedIpRequest:
    """One entry of a port's ``fixed_ips``: a subnet, an address, or both."""

    subnet_id: str = ""
    ip_address: str = ""


@dataclass(frozen=True)
class PortSpec:
    """What a port is made with; None (or "") leaves a choice to the cloud."""

    network_id: str
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    mac_address: str = ""
    fixed_ips: tuple[FixedIpRequest, ...] | None = None  # None: one from each kind of subnet
    device_id: str = ""
    device_owner: str = ""
    security_groups: tuple[str, ...] | None = None  # None: the project's default
    port_security_enabled: bool | None = None  # None: the network's
    host: str = ""
    project_id: str | None = None  # None for the caller's, "" for none (a router's gateway)
    delete_with_device: bool = False
    # Its quota share reserved by the caller, in the same event as its
    # server's (a boot: commands/servers.py), not by a reservation of its own.
    quota_with_device: bool = False


def counts_against_quota(device_owner: str) -> bool:
    """The network's own ports (DHCP, a router's legs) are not the tenant's."""
    return not device_owner.startswith("network:")


def create_port_in(batch: NetworkBatch, spec: PortSpec, actor: Actor) -> Port:
    """Check everything, then make the port (nothing changes if a check fails)."""
    network = batch.visible(Network, spec.network_id, actor)
    project = actor.project_id if spec.project_id is None else spec.project_id
    if not (network.owned_by(actor) or network.shared or spec.device_owner.startswith("network:")):
        raise NeutronForbidden(f"Tenant {project} not allowed to create port on this network")
    require_name(spec.name, "name")
    require_name(spec.description, "description")
    checked_host(spec.host)
    mac = mac_for(batch, spec.mac_address, network, actor)
    addresses = plan_fixed_ips(batch, network, spec.fixed_ips, mac, spec.device_owner, actor, {})
    enabled, groups = _security_for(batch, spec, network, project, actor)
    counted = counts_against_quota(spec.device_owner)
    if counted:
        batch.quota(project).check({"port": 1})
    # Checked: from here on nothing refuses.
    port = Port(
        project_id=project,
        network_id=str(network.id),
        name=spec.name,
        description=spec.description,
        mac_address=mac,
        fixed_ips=[FixedIp(str(subnet.id), address) for subnet, address in addresses],
        device_id=spec.device_id,
        device_owner=spec.device_owner,
        admin_state_up=spec.admin_state_up,
        port_security_enabled=enabled,
        security_group_ids=[str(g.id) for g in groups],
        host=spec.host,
        delete_with_device=spec.delete_with_device,
        actor=actor,
    )
    batch.add(port)
    for subnet, address in addresses:
        batch.allocator(subnet).take(address, str(port.id))
    batch.port_added(network, port)
    for group in groups:
        batch.member_joined(group, str(port.id), [a for _, a in addresses])
    if counted and not spec.quota_with_device:
        batch.quota(project).reserve(str(port.id), {"port": 1}, actor)
    return port


# Fixed IPs ---------------------------------------------------------------


def network_subnets(batch: NetworkBatch, network: Network) -> list[Subnet]:
    ids = [parse_id(Subnet, s) for s in network.subnet_ids]
    batch.preload(ids)
    subnets = [batch.find(Subnet, i) for i in ids]
    return [s for s in subnets if s is not None and not s.deleted]


def plan_fixed_ips(
    batch: NetworkBatch,
    network: Network,
    requested: tuple[FixedIpRequest, ...] | None,
    mac: str,
    device_owner: str,
    actor: Actor,
    kept: dict[UUID, list[str]],
) -> list[tuple[Subnet, str]]:
    """The addresses a port will hold, chosen now, allocated by the caller.
    ``kept``: addresses the port already holds, by subnet (an update)."""
    subnets = network_subnets(batch, network)
    if requested is None:
        return _default_addresses(batch, network, subnets, mac)
    if len(requested) > MAX_FIXED_IPS:
        raise NeutronBadRequest(f"Exceeded maximum amount of fixed ips per port ({MAX_FIXED_IPS})")
    chosen: list[tuple[Subnet, str]] = []
    remaining = {k: list(v) for k, v in kept.items()}
    for entry in requested:
        subnet = _subnet_of(batch, network, subnets, entry)
        if entry.ip_address:
            address = str(parse_address(entry.ip_address, "fixed_ips"))
            if address in remaining.get(subnet.id, []):
                remaining[subnet.id].remove(address)
            else:
                if not network.owned_by(actor) and device_owner not in (
                    "network:router_interface",
                ):
                    raise NeutronForbidden(
                        "Only the network's owner or an admin may choose a fixed IP address"
                    )
                address = batch.allocator(subnet).check_address(entry.ip_address, device_owner)
        elif remaining.get(subnet.id):
            address = remaining[subnet.id].pop(0)
        else:
            taken = {int(ipaddress.ip_address(a)) for s, a in chosen if s.id == subnet.id}
            found = batch.allocator(subnet).choose(mac, taken)
            if found is None:
                raise exhausted(str(network.id))
            address = found
        if (subnet, address) in chosen:
            raise NeutronBadRequest(f"Duplicate IP address {address} in fixed_ips")
        chosen.append((subnet, address))
    return chosen


def _subnet_of(
    batch: NetworkBatch, network: Network, subnets: list[Subnet], entry: FixedIpRequest
) -> Subnet:
    if entry.subnet_id:
        subnet = batch.get(Subnet, entry.subnet_id)
        if subnet.network_id != str(network.id):  # as unknown: another's must not show
            raise NeutronNotFound(Subnet, subnet.id)
        return subnet
    if not entry.ip_address:
        raise NeutronBadRequest("Invalid input for fixed_ips: give a subnet_id or an ip_address")
    address = parse_address(entry.ip_address, "fixed_ips")
    for subnet in subnets:
        if address.version == subnet.ip_version and address in subnet.network:
            return subnet
    raise NeutronBadRequest(
        f"IP address {entry.ip_address} is not a valid IP for any of the subnets on the"
        " specified network.",
        "InvalidIpForNetwork",
    )


def _default_addresses(
    batch: NetworkBatch, network: Network, subnets: list[Subnet], mac: str
) -> list[tuple[Subnet, str]]:
    """Neutron's choice: one IPv4 address, one stateful IPv6 address, and one
    from each SLAAC subnet; 409 if a kind the network has is exhausted."""
    chosen: list[tuple[Subnet, str]] = []
    v4 = [s for s in subnets if s.ip_version == 4]
    stateful = [s for s in subnets if s.ip_version == 6 and not s.mac_derived]
    for group in (v4, stateful):
        for subnet in group:
            address = batch.allocator(subnet).choose(mac, set())
            if address is not None:
                chosen.append((subnet, address))
                break
        else:
            if group:
                raise exhausted(str(network.id))
    for subnet in subnets:
        if subnet.mac_derived:
            address = batch.allocator(subnet).choose(mac, set())
            if address is None:
                raise NeutronConflict(
                    f"The SLAAC address of MAC {mac} on subnet {subnet.id} is in use.",
                    "IpAddressInUse",
                )
            chosen.append((subnet, address))
    return chosen


# Security groups -----------------------------------------------------------


def _security_for(
    batch: NetworkBatch, spec: PortSpec, network: Network, project: str, actor: Actor
) -> tuple[bool, list[SecurityGroup]]:
    """Port security and the groups of a new port. The network's own ports
    have none; others get the project's default group unless told."""
    enabled = (
        network.port_security_enabled
        if spec.port_security_enabled is None
        else spec.port_security_enabled
    )
    if spec.device_owner.startswith("network:"):
        return enabled, []
    if spec.security_groups is None:
        return enabled, [group_for_port(batch, "", project, actor)] if enabled else []
    if spec.security_groups and not enabled:
        raise NeutronBadRequest(
            "Port security must be enabled and port must have an IP address in order to use"
            " security groups.",
            "PortSecurityAndIPRequiredForSecurityGroups",
        )
    groups = [group_for_port(batch, g, project, actor) for g in dict.fromkeys(spec.security_groups)]
    return enabled, groups
