"""The FloatingIP aggregate: an address of an external network's subnet
held by a project, reaching one port's fixed address through a router
(NAT on the network node) while associated.

Its address is allocated on the external subnet in the save that creates
it, like a port's; association changes the FloatingIP, the port it reaches
(``Port.FloatingIpAttached``) and the router it goes through
(``Router.FloatingIpRouted``) in one save."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound
from domain.values import Actor


class FloatingIP(Aggregate):
    class Created(Aggregate.Created):
        project_id: str
        floating_network_id: str
        subnet_id: str
        floating_ip_address: str
        description: str
        actor: Actor

    @event(Created)
    def __init__(
        self,
        project_id: str,
        floating_network_id: str,
        subnet_id: str,
        floating_ip_address: str,
        description: str,
        actor: Actor,
    ) -> None:
        self.project_id = project_id
        self.floating_network_id, self.subnet_id = floating_network_id, subnet_id
        self.floating_ip_address, self.description = floating_ip_address, description
        self.port_id = self.fixed_ip_address = self.router_id = ""
        self.status = "DOWN"
        self.deleted = False

    def visible_to(self, actor: Actor) -> bool:
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Floating IP {self.id} could not be found.")

    def associate(self, port_id: str, fixed_ip_address: str, router_id: str, actor: Actor) -> None:
        """Reach a port's fixed address through a router (the caller changed
        the port and router, and disassociated from any previous port)."""
        self.require_live()
        now = (port_id, fixed_ip_address, router_id)
        if now != (self.port_id, self.fixed_ip_address, self.router_id):
            self._associated(port_id, fixed_ip_address, router_id, actor)

    class Associated(Aggregate.Event):
        port_id: str
        fixed_ip_address: str
        router_id: str
        actor: Actor

    @event(Associated)
    def _associated(
        self, port_id: str, fixed_ip_address: str, router_id: str, actor: Actor
    ) -> None:
        self.port_id, self.fixed_ip_address, self.router_id = port_id, fixed_ip_address, router_id

    def disassociate(self, actor: Actor) -> None:
        self.require_live()
        if self.port_id:
            self._disassociated(self.port_id, self.router_id, actor)

    class Disassociated(Aggregate.Event):
        port_id: str
        router_id: str
        actor: Actor

    @event(Disassociated)
    def _disassociated(self, port_id: str, router_id: str, actor: Actor) -> None:
        self.port_id = self.fixed_ip_address = self.router_id = ""
        self.status = "DOWN"

    def update_description(self, description: str, actor: Actor) -> None:
        self.require_live()
        if description != self.description:
            self._described(description, actor)

    class Described(Aggregate.Event):
        description: str
        actor: Actor

    @event(Described)
    def _described(self, description: str, actor: Actor) -> None:
        self.description = description

    def report_status(self, status: str, actor: Actor) -> None:
        """What the network node says of its NAT: ACTIVE once applied, DOWN
        once removed (a worker's report; the API never sets it)."""
        self.require_live()
        if status not in ("ACTIVE", "DOWN", "ERROR"):
            raise ValueError(f"unknown floating IP status {status!r}")
        if status != self.status:
            self._status_reported(status, actor)

    class StatusReported(Aggregate.Event):
        status: str
        actor: Actor

    @event(StatusReported)
    def _status_reported(self, status: str, actor: Actor) -> None:
        self.status = status

    def delete(self, actor: Actor) -> None:
        """The caller releases its address and disassociates it in the same save."""
        self.require_live()
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True
