"""Ports: made (by the Networking API, a boot, a router, a network's DHCP),
changed and deleted, each with everything that goes with it in the same
save: its addresses allocated on (or released to) their subnets, its MAC
claimed, its network's and security groups' lists, its quota, the floating
IPs that reach it."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from uuid import UUID

from commands.network_batch import NetworkBatch, NeutronForbidden, NeutronNotFound, parse_id
from commands.network_security import group_for_port
from domain.addressing import NeutronBadRequest, NeutronConflict, parse_address
from domain.errors import Conflict
from domain.floating_ip import FloatingIP
from domain.instance import Instance
from domain.names import NameClaim
from domain.network import Network, require_name
from domain.network_values import FixedIp
from domain.port import MAX_FIXED_IPS, Port, checked_host, checked_mac
from domain.router import Router
from domain.security_group import SecurityGroup
from domain.subnet import Subnet, exhausted
from domain.values import Actor

BASE_MAC = (0xFA, 0x16, 0x3E)  # Neutron's base_mac
MAC_CLAIM = "mac"


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


def counts_against_quota(device_owner: str) -> bool:
    """The network's own ports (DHCP, a router's legs) are not the tenant's."""
    return not device_owner.startswith("network:")


def mac_claim_id(mac: str) -> UUID:
    return NameClaim.create_id(MAC_CLAIM, "", mac)


def create_port_in(batch: NetworkBatch, spec: PortSpec, actor: Actor) -> Port:
    """Check everything, then make the port (nothing changes if a check fails)."""
    network = batch.visible(Network, spec.network_id, actor)
    project = actor.project_id if spec.project_id is None else spec.project_id
    if not (network.owned_by(actor) or network.shared or spec.device_owner.startswith("network:")):
        raise NeutronForbidden(f"Tenant {project} not allowed to create port on this network")
    require_name(spec.name, "name")
    require_name(spec.description, "description")
    checked_host(spec.host)
    mac, claim = _mac_for(batch, spec, network, actor)
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
        batch.allocator(subnet).take(address, str(port.id), actor)
    _claim_mac(batch, claim, mac, str(port.id), actor)
    batch.port_added(network, port)
    for group in groups:
        batch.member_joined(group, str(port.id), [a for _, a in addresses])
    if counted:
        batch.quota(project).reserve(str(port.id), {"port": 1}, actor)
    return port


# MAC addresses ---------------------------------------------------------------


def _mac_for(
    batch: NetworkBatch, spec: PortSpec, network: Network, actor: Actor
) -> tuple[str, NameClaim | None]:
    """The port's MAC and its stored claim (None: a new one is made)."""
    if not spec.mac_address:
        return _fresh_mac(batch), None
    if not network.owned_by(actor):
        raise NeutronForbidden("Only the network's owner or an admin may choose a MAC address")
    mac = checked_mac(spec.mac_address)
    claim = batch.find(NameClaim, mac_claim_id(mac))
    if claim is not None and claim.holder_id:
        raise _mac_in_use(network, mac)
    if claim is None and mac_claim_id(mac) in batch.mac_claims_taken:
        raise _mac_in_use(network, mac)
    return mac, claim


def _mac_in_use(network: Network, mac: str) -> NeutronConflict:
    return NeutronConflict(
        f"Unable to complete operation for network {network.id}. The mac address {mac} is in use.",
        "MacAddressInUse",
    )


def _fresh_mac(batch: NetworkBatch) -> str:
    """A random MAC under Neutron's base that no claim has ever held: the
    candidates of a batch are checked against the ledger in one query."""
    while True:
        if not batch.mac_candidates:
            candidates = [_random_mac() for _ in range(32)]
            ids = [mac_claim_id(m) for m in candidates]
            batch.preload(ids)
            batch.mac_candidates = [
                m
                for m, i in zip(candidates, ids, strict=True)
                if batch.find(NameClaim, i) is None and i not in batch.mac_claims_taken
            ]
        if batch.mac_candidates:
            return batch.mac_candidates.pop()


def _random_mac() -> str:
    tail = secrets.token_bytes(3)
    return ":".join(f"{b:02x}" for b in (*BASE_MAC, *tail))


def _claim_mac(
    batch: NetworkBatch, claim: NameClaim | None, mac: str, holder: str, actor: Actor
) -> None:
    if claim is None:
        made = NameClaim(MAC_CLAIM, "", mac, holder, actor)
        batch.add(made)
        batch.mac_claims_taken.add(made.id)
    else:
        try:
            claim.take(holder, "MAC address", actor)
        except Conflict:  # pragma: no cover - checked in _mac_for
            raise NeutronConflict(f"The mac address {mac} is in use.", "MacAddressInUse") from None


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
                address = subnet.check_address(entry.ip_address, device_owner)
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


# Changes ---------------------------------------------------------------


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
        if subnet.allocations.get(address) != holder:
            batch.allocator(subnet).take(address, holder, actor)
    port.change_fixed_ips([FixedIp(str(subnet.id), address) for subnet, address in planned], actor)


# Deletion ----------------------------------------------------------------


def delete_port_in(
    batch: NetworkBatch, port: Port, actor: Actor, forget_on_server: bool = True
) -> None:
    """The port goes with everything it held; the server it was plugged into
    (if any, and unless that server is going too) no longer lists it."""
    holder = str(port.id)
    network = batch.find(Network, parse_id(Network, port.network_id))
    batch.preload(
        [parse_id(Subnet, f.subnet_id) for f in port.fixed_ips]
        + [parse_id(FloatingIP, f) for f in port.floating_ips]
    )
    for fixed in port.fixed_ips:
        subnet = batch.find(Subnet, parse_id(Subnet, fixed.subnet_id))
        if subnet is not None and not subnet.deleted:
            batch.allocator(subnet).give_back(fixed.ip_address, holder, actor)
    for floating_ip_id in list(port.floating_ips):
        disassociate_in(batch, batch.get(FloatingIP, floating_ip_id), actor)
    claim = batch.find(NameClaim, mac_claim_id(port.mac_address))
    if claim is not None:
        claim.release(holder, actor)
    if network is not None:
        batch.port_removed(network, holder)
    for group_id in port.security_group_ids:
        group = batch.find_group(group_id)
        if group is not None:
            batch.member_left(group, holder)
    if port.project_id:  # a no-op for a port that held no quota
        batch.quota(port.project_id).release(holder, actor)
    if forget_on_server and port.on_server and port.device_id:
        _forget_on_server(batch, port, actor)
    port.delete(actor)


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


def require_own_project(project_id: str, actor: Actor) -> None:
    if project_id and project_id != actor.project_id and not actor.is_admin:
        raise NeutronForbidden(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in"
            " request requires admin privileges"
        )


__all__ = ["NeutronNotFound"]
