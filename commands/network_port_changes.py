"""Ports changed and deleted: the new addresses allocated and the old
released, the groups' member lists, the floating IPs that reached a
released address, and for a deleted port everything it held."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from commands.network_batch import NetworkBatch, parse_id
from commands.network_macs import mac_claim_id
from commands.network_ports import FixedIpRequest, plan_fixed_ips
from commands.network_security import group_for_port
from domain.addressing import NeutronBadRequest, NeutronConflict
from domain.floating_ip import FloatingIP
from domain.instance import Instance
from domain.names import NameClaim
from domain.network import Network, require_name
from domain.network_values import FixedIp
from domain.port import Port, checked_host
from domain.router import Router
from domain.security_group import SecurityGroup
from domain.subnet import Subnet
from domain.values import Actor


@dataclass(frozen=True)
class PortUpdate:
    """What a port update changes besides its plain attributes; None leaves it."""

    fixed_ips: tuple[FixedIpRequest, ...] | None = None
    security_groups: tuple[str, ...] | None = None
    port_security_enabled: bool | None = None
    host: str | None = None  # binding:host_id; "" unbinds


def update_port_in(
    batch: NetworkBatch,
    port_id: str,
    changes: dict[str, object],
    update: PortUpdate,
    actor: Actor,
) -> Port:
    """Everything checked first; then the port, its addresses and its
    groups' member lists change together."""
    port = batch.visible(Port, port_id, actor)
    for key in ("name", "description"):
        if key in changes:
            require_name(changes[key], key)
    network = batch.get(Network, port.network_id)
    planned: list[tuple[Subnet, str]] | None = None
    if update.fixed_ips is not None:
        kept: dict[UUID, list[str]] = {}
        for fixed in port.fixed_ips:
            kept.setdefault(parse_id(Subnet, fixed.subnet_id), []).append(fixed.ip_address)
        planned = plan_fixed_ips(
            batch, network, update.fixed_ips, port.mac_address, port.device_owner, actor, kept
        )
    enabled, groups = _groups_after(batch, port, update, actor)
    if update.host is not None:
        checked_host(update.host)
    # Checked: from here on nothing refuses.
    port.update(changes, actor)
    if planned is not None:
        _readdress(batch, port, planned, actor)
    addresses = [f.ip_address for f in port.fixed_ips]
    for group_id in port.security_group_ids:
        group = batch.find_group(group_id)
        if group is not None and group_id not in [str(g.id) for g in groups]:
            batch.member_left(group, str(port.id))
    port.change_security(enabled, [str(g.id) for g in groups], actor)
    for group in groups:
        batch.member_joined(group, str(port.id), addresses)
    if update.host is not None:
        if update.host:
            port.bind(update.host, actor)
        else:
            port.unbind(actor)
    return port


def _groups_after(
    batch: NetworkBatch, port: Port, update: PortUpdate, actor: Actor
) -> tuple[bool, list[SecurityGroup]]:
    enabled = (
        port.port_security_enabled
        if update.port_security_enabled is None
        else update.port_security_enabled
    )
    if update.security_groups is None:
        ids = port.security_group_ids
        if ids and not enabled:
            raise NeutronConflict(
                f"Port {port.id} has security group associated. Cannot disable port security"
                " or ip address until security group is removed.",
                "PortSecurityPortHasSecurityGroup",
            )
        found = [batch.find_group(g) for g in ids]
        return enabled, [g for g in found if g is not None]
    if update.security_groups and not enabled:
        raise NeutronBadRequest(
            "Port security must be enabled and port must have an IP address in order to use"
            " security groups.",
            "PortSecurityAndIPRequiredForSecurityGroups",
        )
    if update.security_groups and port.device_owner.startswith("network:"):
        raise NeutronBadRequest(f"Port {port.id} of the network itself takes no security groups")
    wanted = dict.fromkeys(update.security_groups)
    return enabled, [group_for_port(batch, g, port.project_id, actor) for g in wanted if g]


def _readdress(
    batch: NetworkBatch, port: Port, planned: list[tuple[Subnet, str]], actor: Actor
) -> None:
    holder = str(port.id)
    wanted = {(str(subnet.id), address) for subnet, address in planned}
    for fixed in port.fixed_ips:
        if (fixed.subnet_id, fixed.ip_address) not in wanted:
            subnet = batch.find(Subnet, parse_id(Subnet, fixed.subnet_id))
            if subnet is not None and not subnet.deleted:
                batch.allocator(subnet).give_back(fixed.ip_address, holder, actor)
            for floating_ip_id, reached in list(port.floating_ips.items()):
                if reached == fixed.ip_address:
                    disassociate_in(batch, batch.get(FloatingIP, floating_ip_id), actor)
    for subnet, address in planned:
        if batch.allocator(subnet).holder_of(address) != holder:
            batch.allocator(subnet).take(address, holder)
    port.change_fixed_ips([FixedIp(str(subnet.id), address) for subnet, address in planned], actor)


@dataclass
class GivenBackLater:
    """What deleting many ports in one save gives back, gathered so that each
    quota and each subnet changes once for all of them (``give_back``),
    not once per port: a host deleting a batch of servers with their ports."""

    quota: dict[str, list[str]] = field(default_factory=dict)  # project -> consumers
    addresses: dict[UUID, dict[str, str]] = field(default_factory=dict)  # subnet -> addr -> holder


def give_back(batch: NetworkBatch, later: GivenBackLater, actor: Actor) -> None:
    for subnet_id, held in later.addresses.items():
        subnet = batch.find(Subnet, subnet_id)
        if subnet is not None and not subnet.deleted:
            batch.allocator(subnet).give_back_many(held, actor)
    for project_id, consumers in later.quota.items():
        batch.quota(project_id).release_many(consumers, actor)


def delete_port_in(
    batch: NetworkBatch,
    port: Port,
    actor: Actor,
    forget_on_server: bool = True,
    later: GivenBackLater | None = None,
) -> None:
    """The port goes with everything it held; the server it was plugged into
    (if any, and unless that server is going too) no longer lists it. With
    ``later``, its addresses and quota are gathered there, to give back with
    other ports' at once."""
    holder = str(port.id)
    network = batch.find(Network, parse_id(Network, port.network_id))
    batch.preload(
        [parse_id(Subnet, f.subnet_id) for f in port.fixed_ips]
        + [parse_id(FloatingIP, f) for f in port.floating_ips]
    )
    for fixed in port.fixed_ips:
        subnet = batch.find(Subnet, parse_id(Subnet, fixed.subnet_id))
        if subnet is None or subnet.deleted:
            continue
        if later is None:
            batch.allocator(subnet).give_back(fixed.ip_address, holder, actor)
        else:
            later.addresses.setdefault(subnet.id, {})[fixed.ip_address] = holder
    for floating_ip_id in list(port.floating_ips):
        disassociate_in(batch, batch.get(FloatingIP, floating_ip_id), actor)
    _release_mac_claim(batch, network, port, actor)
    if network is not None:
        batch.port_removed(network, holder)
    for group_id in port.security_group_ids:
        group = batch.find_group(group_id)
        if group is not None:
            batch.member_left(group, holder)
    if port.project_id and later is not None:
        later.quota.setdefault(port.project_id, []).append(holder)
    elif port.project_id:  # a no-op for a port that held no quota
        batch.quota(port.project_id).release(holder, actor)
    if forget_on_server and port.on_server and port.device_id:
        _forget_on_server(batch, port, actor)
    port.delete(actor)


def _release_mac_claim(
    batch: NetworkBatch, network: Network | None, port: Port, actor: Actor
) -> None:
    """The claim on its MAC, which only a port made before networks held
    MACs has (commands/network_macs.py); other networks read none."""
    if network is None or network.may_hold_mac_claims():
        claim = batch.find(NameClaim, mac_claim_id(port.mac_address))
        if claim is not None:
            claim.release(str(port.id), actor)


def _forget_on_server(batch: NetworkBatch, port: Port, actor: Actor) -> None:
    try:
        instance = batch.find(Instance, UUID(port.device_id))
    except ValueError:
        return
    if instance is not None and not instance.is_deleted and str(port.id) in instance.port_ids:
        instance.forget_port(str(port.id), actor)


def disassociate_in(batch: NetworkBatch, floating_ip: FloatingIP, actor: Actor) -> None:
    """A floating IP off its port and router (no-op if not associated)."""
    if not floating_ip.port_id:
        return
    port = batch.find(Port, parse_id(Port, floating_ip.port_id))
    if port is not None and not port.deleted:
        port.detach_floating_ip(str(floating_ip.id), actor)
    if floating_ip.router_id:
        router = batch.find(Router, parse_id(Router, floating_ip.router_id))
        if router is not None:
            router.unroute_floating_ip(str(floating_ip.id), actor)
    floating_ip.disassociate(actor)


def deletable_port(batch: NetworkBatch, port_id: str, actor: Actor) -> Port:
    """A port the caller may delete through the port API: not a router's
    leg (that goes through the router), not another project's."""
    port = batch.visible(Port, port_id, actor)
    if port.device_owner in ("network:router_interface", "network:router_gateway"):
        raise NeutronConflict(
            f"Port {port.id} cannot be deleted directly via the port API: has device owner"
            f" {port.device_owner}.",
            "ServicePortInUse",
        )
    return port
