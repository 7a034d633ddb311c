"""The Router aggregate: joins tenant subnets (an interface port on each)
to an external network (its gateway port, with SNAT), and carries the
floating IPs that reach ports behind it, so that an interface a floating IP
needs cannot be removed under it.

What the network node's worker acts on (issue 21): ``GatewaySet`` /
``GatewayCleared``, ``InterfaceAdded`` / ``InterfaceRemoved``,
``RoutesSet``, ``FloatingIpRouted`` / ``FloatingIpUnrouted``, ``Deleted``:
each is enough, with the router's state, to converge its namespace and NAT
(``workers.drivers.network_specs.RouterSpec``)."""

from __future__ import annotations

import ipaddress

from eventsourcing.domain import Aggregate, event

from domain.addressing import NeutronBadRequest, NeutronConflict
from domain.errors import InvalidInput, NotFound
from domain.network_values import FixedIp, HostRoute
from domain.values import Actor


class Router(Aggregate):
    class Created(Aggregate.Created):
        project_id: str
        name: str
        description: str
        admin_state_up: bool
        actor: Actor

    @event(Created)
    def __init__(
        self, project_id: str, name: str, description: str, admin_state_up: bool, actor: Actor
    ) -> None:
        self.project_id, self.name, self.description = project_id, name, description
        self.admin_state_up = admin_state_up
        self.gateway_network_id = ""
        self.gateway_port_id = ""
        self.enable_snat = True
        self.gateway_ips: list[FixedIp] = []
        # interface port id -> [subnet id, subnet cidr, address on it]
        self.interfaces: dict[str, list[str]] = {}
        self.routes: list[HostRoute] = []
        # floating IP id -> [floating address, fixed address, port id, subnet id]
        self.floating_ips: dict[str, list[str]] = {}
        self.deleted = False

    def visible_to(self, actor: Actor) -> bool:
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Router {self.id} could not be found.")

    UPDATABLE = ("name", "description", "admin_state_up")

    def update(self, changes: dict[str, object], actor: Actor) -> None:
        self.require_live()
        for key in changes:
            if key not in self.UPDATABLE:
                raise InvalidInput(f"Attribute '{key}' of a router cannot be updated this way")
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changed, actor)

    class Updated(Aggregate.Event):
        changes: dict[str, object]
        actor: Actor

    @event(Updated)
    def _updated(self, changes: dict[str, object], actor: Actor) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    # The external gateway ------------------------------------------------------

    def set_gateway(
        self,
        network_id: str,
        port_id: str,
        enable_snat: bool,
        addresses: list[FixedIp],
        actor: Actor,
    ) -> None:
        """The gateway port on an external network (made by the caller in the
        same save; a previous one is cleared first)."""
        self.require_live()
        self._gateway_set(network_id, port_id, enable_snat, list(addresses), actor)

    class GatewaySet(Aggregate.Event):
        network_id: str
        port_id: str
        enable_snat: bool
        external_fixed_ips: list[FixedIp]
        actor: Actor

    @event(GatewaySet)
    def _gateway_set(
        self,
        network_id: str,
        port_id: str,
        enable_snat: bool,
        external_fixed_ips: list[FixedIp],
        actor: Actor,
    ) -> None:
        self.gateway_network_id, self.gateway_port_id = network_id, port_id
        self.enable_snat, self.gateway_ips = enable_snat, external_fixed_ips

    def change_snat(self, enable_snat: bool, actor: Actor) -> None:
        if not self.gateway_network_id:
            raise NeutronBadRequest("The router has no external gateway to change SNAT on")
        if enable_snat != self.enable_snat:
            self._gateway_set(
                self.gateway_network_id, self.gateway_port_id, enable_snat, self.gateway_ips, actor
            )

    def clear_gateway(self, actor: Actor) -> str:
        """Off the external network; returns the gateway port for the caller
        to delete. Refused while floating IPs go through it."""
        self.require_live()
        if not self.gateway_network_id:
            return ""
        if self.floating_ips:
            raise NeutronConflict(
                f"Gateway cannot be updated for router {self.id}, since a gateway to external"
                f" network {self.gateway_network_id} is required by one or more floating IPs.",
                "RouterExternalGatewayInUseByFloatingIp",
            )
        port_id = self.gateway_port_id
        self._gateway_cleared(self.gateway_network_id, port_id, actor)
        return port_id

    class GatewayCleared(Aggregate.Event):
        network_id: str
        port_id: str
        actor: Actor

    @event(GatewayCleared)
    def _gateway_cleared(self, network_id: str, port_id: str, actor: Actor) -> None:
        self.gateway_network_id = self.gateway_port_id = ""
        self.gateway_ips = []
        self.enable_snat = True

    # Interfaces ------------------------------------------------------------

    def add_interface(
        self, port_id: str, subnet_id: str, cidr: str, address: str, actor: Actor
    ) -> None:
        """A leg on a subnet (``check_interface`` first)."""
        self.check_interface(subnet_id, cidr)
        self._interface_added(port_id, subnet_id, cidr, address, actor)

    def check_interface(self, subnet_id: str, cidr: str) -> None:
        """One leg per subnet, and none overlapping another (400)."""
        self.require_live()
        new = ipaddress.ip_network(cidr)
        for other_port, (other_subnet, other_cidr, _) in self.interfaces.items():
            if other_subnet == subnet_id:
                raise NeutronBadRequest(
                    f"Bad router request: Router already has a port on subnet {subnet_id}.",
                    "BadRequest",
                )
            existing = ipaddress.ip_network(other_cidr)
            if existing.version == new.version and existing.overlaps(new):
                raise NeutronBadRequest(
                    f"Bad router request: Cidr {cidr} of subnet {subnet_id} overlaps with cidr"
                    f" {other_cidr} of subnet {other_subnet} (port {other_port}).",
                    "BadRequest",
                )

    class InterfaceAdded(Aggregate.Event):
        port_id: str
        subnet_id: str
        cidr: str
        address: str
        actor: Actor

    @event(InterfaceAdded)
    def _interface_added(
        self, port_id: str, subnet_id: str, cidr: str, address: str, actor: Actor
    ) -> None:
        self.interfaces[port_id] = [subnet_id, cidr, address]

    def interface_on(self, subnet_id: str) -> str | None:
        """The interface port on a subnet, if any."""
        for port_id, (subnet, _, _) in self.interfaces.items():
            if subnet == subnet_id:
                return port_id
        return None

    def remove_interface(self, port_id: str, actor: Actor) -> None:
        """Refused (409) while a floating IP reaches a port through it."""
        self.require_live()
        if port_id not in self.interfaces:
            raise NotFound(f"Router {self.id} does not have an interface with id {port_id}")
        subnet_id = self.interfaces[port_id][0]
        users = [f for f, (_, _, _, subnet) in self.floating_ips.items() if subnet == subnet_id]
        if users:
            raise NeutronConflict(
                f"Router interface for subnet {subnet_id} on router {self.id} cannot be deleted,"
                f" as it is required by one or more floating IPs.",
                "RouterInterfaceInUseByFloatingIP",
            )
        if any(self._via(route, subnet_id) for route in self.routes):
            raise NeutronConflict(
                f"Router interface for subnet {subnet_id} on router {self.id} cannot be deleted,"
                " as it is required by one or more routes.",
                "RouterInterfaceInUseByRoute",
            )
        self._interface_removed(port_id, subnet_id, actor)

    def _via(self, route: HostRoute, subnet_id: str) -> bool:
        for subnet, cidr, _ in self.interfaces.values():
            if subnet == subnet_id and ipaddress.ip_address(route.nexthop) in ipaddress.ip_network(
                cidr
            ):
                return True
        return False

    class InterfaceRemoved(Aggregate.Event):
        port_id: str
        subnet_id: str
        actor: Actor

    @event(InterfaceRemoved)
    def _interface_removed(self, port_id: str, subnet_id: str, actor: Actor) -> None:
        del self.interfaces[port_id]

    # Extra routes ----------------------------------------------------------

    def set_routes(self, routes: list[HostRoute], actor: Actor) -> None:
        """Each next hop must be on a subnet the router has an interface on."""
        self.require_live()
        for route in routes:
            nexthop = ipaddress.ip_address(route.nexthop)
            legs = [ipaddress.ip_network(cidr) for _, cidr, _ in self.interfaces.values()]
            if not any(nexthop in leg for leg in legs):
                raise NeutronBadRequest(
                    f"Invalid format for routes: {route.destination} via {route.nexthop}, the"
                    " nexthop is not connected with router",
                    "InvalidRoutes",
                )
            if route.nexthop in {address for _, _, address in self.interfaces.values()}:
                raise NeutronBadRequest(
                    f"Invalid format for routes: the nexthop {route.nexthop} is the router's own",
                    "InvalidRoutes",
                )
        if routes != self.routes:
            self._routes_set(list(routes), actor)

    class RoutesSet(Aggregate.Event):
        routes: list[HostRoute]
        actor: Actor

    @event(RoutesSet)
    def _routes_set(self, routes: list[HostRoute], actor: Actor) -> None:
        self.routes = routes

    # Floating IPs ----------------------------------------------------------

    def routes_floating_ip(self, external_network_id: str, subnet_id: str) -> bool:
        """Whether a floating IP of that external network can reach a port on
        that subnet through this router (Neutron's router for a floating IP)."""
        return (
            not self.deleted
            and self.gateway_network_id == external_network_id
            and self.interface_on(subnet_id) is not None
        )

    def route_floating_ip(
        self,
        floating_ip_id: str,
        floating_address: str,
        fixed_address: str,
        port_id: str,
        subnet_id: str,
        actor: Actor,
    ) -> None:
        self.require_live()
        entry = [floating_address, fixed_address, port_id, subnet_id]
        if self.floating_ips.get(floating_ip_id) != entry:
            self._floating_ip_routed(
                floating_ip_id, floating_address, fixed_address, port_id, subnet_id, actor
            )

    class FloatingIpRouted(Aggregate.Event):
        floating_ip_id: str
        floating_ip_address: str
        fixed_ip_address: str
        port_id: str
        subnet_id: str
        actor: Actor

    @event(FloatingIpRouted)
    def _floating_ip_routed(
        self,
        floating_ip_id: str,
        floating_ip_address: str,
        fixed_ip_address: str,
        port_id: str,
        subnet_id: str,
        actor: Actor,
    ) -> None:
        self.floating_ips[floating_ip_id] = [
            floating_ip_address,
            fixed_ip_address,
            port_id,
            subnet_id,
        ]

    def unroute_floating_ip(self, floating_ip_id: str, actor: Actor) -> None:
        if floating_ip_id in self.floating_ips:
            self._floating_ip_unrouted(floating_ip_id, actor)

    class FloatingIpUnrouted(Aggregate.Event):
        floating_ip_id: str
        actor: Actor

    @event(FloatingIpUnrouted)
    def _floating_ip_unrouted(self, floating_ip_id: str, actor: Actor) -> None:
        del self.floating_ips[floating_ip_id]

    # Deletion ----------------------------------------------------------

    def delete(self, actor: Actor) -> None:
        """Refused (409 RouterInUse) while interfaces remain; the caller
        clears the gateway (deleting its port) in the same save."""
        self.require_live()
        if self.interfaces:
            raise NeutronConflict(f"Router {self.id} still has ports", "RouterInUse")
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True
