"""Routers: made with their quota, given an external gateway (a port on the
external network), legs on subnets (interface ports), extra routes;
deleted once their legs are gone."""

from __future__ import annotations

from dataclasses import dataclass

from commands.network_batch import NetworkBatch, NeutronNotFound, parse_id
from commands.network_port_changes import delete_port_in
from commands.network_ports import FixedIpRequest, PortSpec, create_port_in
from domain.addressing import NeutronBadRequest, NeutronConflict, checked_routes
from domain.network import Network, require_name
from domain.network_values import (
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    HostRoute,
)
from domain.port import Port
from domain.router import Router
from domain.subnet import Subnet
from domain.values import Actor

UNSET = object()


@dataclass(frozen=True)
class GatewaySpec:
    network_id: str
    enable_snat: bool | None = None  # None: unchanged (True for a new gateway)
    fixed_ips: tuple[FixedIpRequest, ...] | None = None


@dataclass(frozen=True)
class RouterSpec:
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    gateway: GatewaySpec | None = None
    project_id: str = ""


def create_router_in(batch: NetworkBatch, spec: RouterSpec, actor: Actor) -> Router:
    require_name(spec.name, "name")
    require_name(spec.description, "description")
    project = spec.project_id or actor.project_id
    quota = batch.quota(project)
    quota.check({"router": 1})
    if spec.gateway is not None:
        _external_network(batch, spec.gateway.network_id, actor)
    router = Router(
        project_id=project,
        name=spec.name,
        description=spec.description,
        admin_state_up=spec.admin_state_up,
        actor=actor,
    )
    batch.add(router)
    quota.reserve(str(router.id), {"router": 1}, actor)
    if spec.gateway is not None:
        set_gateway_in(batch, router, spec.gateway, actor)
    return router


def _external_network(batch: NetworkBatch, network_id: str, actor: Actor) -> Network:
    """External networks are seen by everyone; another project's other
    network answers as an unknown one."""
    network = batch.visible(Network, network_id, actor)
    if not network.external:
        raise NeutronBadRequest(
            f"Bad router request: Network {network.id} is not an external network.",
            "BadRequest",
        )
    return network


def set_gateway_in(batch: NetworkBatch, router: Router, spec: GatewaySpec, actor: Actor) -> None:
    """Onto an external network (a gateway port there), or a change of SNAT."""
    network = _external_network(batch, spec.network_id, actor)
    if router.gateway_network_id == str(network.id) and spec.fixed_ips is None:
        if spec.enable_snat is not None:
            router.change_snat(spec.enable_snat, actor)
        return
    if router.gateway_network_id:
        clear_gateway_in(batch, router, actor)
    port = create_port_in(
        batch,
        PortSpec(
            network_id=str(network.id),
            fixed_ips=spec.fixed_ips,
            device_id=str(router.id),
            device_owner=OWNER_ROUTER_GATEWAY,
            project_id="",
        ),
        actor,
    )
    snat = True if spec.enable_snat is None else spec.enable_snat
    router.set_gateway(str(network.id), str(port.id), snat, list(port.fixed_ips), actor)


def clear_gateway_in(batch: NetworkBatch, router: Router, actor: Actor) -> None:
    port_id = router.clear_gateway(actor)
    if port_id:
        port = batch.find(Port, parse_id(Port, port_id))
        if port is not None and not port.deleted:
            delete_port_in(batch, port, actor)


def update_router_in(
    batch: NetworkBatch,
    router_id: str,
    changes: dict[str, object],
    gateway: GatewaySpec | object | None,
    routes: list[HostRoute] | object | None,
    actor: Actor,
) -> Router:
    """``gateway`` and ``routes``: UNSET to leave, None to clear."""
    router = batch.visible(Router, router_id, actor)
    for key in ("name", "description"):
        if key in changes:
            require_name(changes[key], key)
    if gateway is not UNSET and gateway is not None:
        assert isinstance(gateway, GatewaySpec)
        _external_network(batch, gateway.network_id, actor)
    if routes is not UNSET:
        checked = checked_routes(routes or [], None, "routes")  # type: ignore[arg-type]
        router.set_routes(checked, actor)
    router.update(changes, actor)
    if gateway is None:
        clear_gateway_in(batch, router, actor)
    elif isinstance(gateway, GatewaySpec):
        set_gateway_in(batch, router, gateway, actor)
    return router


def delete_router_in(batch: NetworkBatch, router_id: str, actor: Actor) -> Router:
    """409 RouterInUse while it has legs on subnets."""
    router = batch.visible(Router, router_id, actor)
    if router.interfaces:
        raise NeutronConflict(f"Router {router.id} still has ports", "RouterInUse")
    clear_gateway_in(batch, router, actor)
    router.delete(actor)
    batch.quota(router.project_id).release(str(router.id), actor)
    return router


# Interfaces ------------------------------------------------------------


@dataclass(frozen=True)
class Interface:
    """What add/remove_router_interface answer with."""

    router: Router
    port_id: str
    subnet_id: str
    network_id: str


def add_interface_in(
    batch: NetworkBatch, router_id: str, subnet_id: str, port_id: str, actor: Actor
) -> Interface:
    router = batch.visible(Router, router_id, actor)
    if bool(subnet_id) == bool(port_id):
        raise NeutronBadRequest(
            "Bad router request: Either subnet_id or port_id must be specified, not both.",
            "BadRequest",
        )
    if subnet_id:
        return _interface_on_subnet(batch, router, subnet_id, actor)
    return _interface_with_port(batch, router, port_id, actor)


def _interface_on_subnet(
    batch: NetworkBatch, router: Router, subnet_id: str, actor: Actor
) -> Interface:
    subnet = batch.get(Subnet, subnet_id)
    network = batch.get(Network, subnet.network_id)
    if not (network.owned_by(actor) or (network.shared and not network.external)):
        raise NeutronNotFound(Subnet, subnet.id)
    if not subnet.gateway_ip:
        raise NeutronBadRequest(
            "Bad router request: Subnet for router interface must have a gateway IP.",
            "BadRequest",
        )
    router.check_interface(str(subnet.id), subnet.cidr)
    batch.allocator(subnet).check_address(subnet.gateway_ip, OWNER_ROUTER_INTERFACE)
    port = create_port_in(
        batch,
        PortSpec(
            network_id=str(network.id),
            fixed_ips=(FixedIpRequest(str(subnet.id), subnet.gateway_ip),),
            device_id=str(router.id),
            device_owner=OWNER_ROUTER_INTERFACE,
            project_id=router.project_id,
        ),
        actor,
    )
    router.add_interface(str(port.id), str(subnet.id), subnet.cidr, subnet.gateway_ip, actor)
    return Interface(router, str(port.id), str(subnet.id), str(network.id))


def _interface_with_port(
    batch: NetworkBatch, router: Router, port_id: str, actor: Actor
) -> Interface:
    port = batch.visible(Port, port_id, actor)
    if port.project_id != router.project_id and not actor.is_admin:
        raise NeutronNotFound(Port, port.id)
    if port.device_id:
        raise NeutronConflict(
            f"Unable to complete operation on port {port.id} for network {port.network_id}."
            f" Port already has an attached device {port.device_id}.",
            "PortInUse",
        )
    if not port.fixed_ips:
        raise NeutronBadRequest(
            "Bad router request: Router port must have at least one fixed IP.", "BadRequest"
        )
    fixed = port.fixed_ips[0]
    subnet = batch.get(Subnet, fixed.subnet_id)
    router.check_interface(str(subnet.id), subnet.cidr)
    for group_id in port.security_group_ids:
        group = batch.find_group(group_id)
        if group is not None:
            batch.member_left(group, str(port.id))
    port.change_security(port.port_security_enabled, [], actor)
    port.attach(str(router.id), OWNER_ROUTER_INTERFACE, actor)
    network = batch.get(Network, port.network_id)
    batch.port_added(network, port)
    router.add_interface(str(port.id), str(subnet.id), subnet.cidr, fixed.ip_address, actor)
    return Interface(router, str(port.id), str(subnet.id), port.network_id)


def remove_interface_in(
    batch: NetworkBatch, router_id: str, subnet_id: str, port_id: str, actor: Actor
) -> Interface:
    """The leg goes, and its port with it."""
    router = batch.visible(Router, router_id, actor)
    if not subnet_id and not port_id:
        raise NeutronBadRequest(
            "Bad router request: Either subnet_id or port_id must be specified.", "BadRequest"
        )
    if port_id:
        found = str(parse_id(Port, port_id))
        if found not in router.interfaces:
            raise _no_interface(router, f"with id {port_id}", "RouterInterfaceNotFound")
        if subnet_id and router.interfaces[found][0] != str(parse_id(Subnet, subnet_id)):
            raise NeutronConflict(
                f"Subnet {subnet_id} is not the subnet of interface {port_id}", "Conflict"
            )
    else:
        located = router.interface_on(str(parse_id(Subnet, subnet_id)))
        if located is None:
            raise _no_interface(
                router, f"for subnet {subnet_id}", "RouterInterfaceNotFoundForSubnet"
            )
        found = located
    subnet = router.interfaces[found][0]
    router.remove_interface(found, actor)
    port = batch.find(Port, parse_id(Port, found))
    network_id = port.network_id if port is not None else ""
    if port is not None and not port.deleted:
        delete_port_in(batch, port, actor)
    return Interface(router, found, subnet, network_id)


def _no_interface(router: Router, what: str, neutron_type: str) -> NeutronNotFound:
    error = NeutronNotFound(Router, router.id)
    error.message = f"Router {router.id} does not have an interface {what}."
    error.args = (error.message,)
    error.neutron_type = neutron_type
    return error


def routers_through(batch: NetworkBatch, network: Network) -> list[Router]:
    """Routers with a leg on this network (from its interface ports)."""
    legs = [p for p, entry in network.ports.items() if entry[0] == OWNER_ROUTER_INTERFACE]
    batch.preload([parse_id(Port, p) for p in legs])
    routers = []
    for leg in legs:
        port = batch.find(Port, parse_id(Port, leg))
        if port is not None and not port.deleted and port.device_id:
            router = batch.find(Router, parse_id(Router, port.device_id))
            if router is not None and not router.deleted and router not in routers:
                routers.append(router)
    return routers
