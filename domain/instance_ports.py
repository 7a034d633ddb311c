"""A server's ports: those it booted with (its ``Requested`` event's network
requests, each resolved to the port made or named for it) and those
attached and detached since (os-interface). The events live on
``Interfacing``, a base class of Instance, so the ledger stores them as
``domain.instance_ports:Interfacing.InterfaceAttached`` and ``...Detached``.

What a compute host acts on: an attached port is plugged into the running
guest, a detached one unplugged. A server booting with ports waits until
the network worker of its host has plugged them all (``PortsPlugged``,
recorded with the ports' own ``Port.Plugged``): then its spawn goes ahead,
as Nova's waits for "network-vif-plugged"."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.addressing import NeutronConflict
from domain.errors import InvalidTransition, NotFound
from domain.values import Actor, NetworkRequest, TaskState, VmState

MAX_PORTS = 16  # interfaces of one server


class Interfacing(Aggregate):
    """The ports part of the Instance aggregate."""

    networks: list[NetworkRequest]  # kept by Instance
    vm_state: VmState
    task_state: TaskState | None
    host: str | None

    @property
    def port_ids(self) -> list[str]:
        """Every port plugged into the server now, in the order it got them."""
        booted = [r.port_id for r in self.networks if r.port_id]
        attached: list[str] = list(self.__dict__.get("attached_ports", []))
        detached: list[str] = list(self.__dict__.get("detached_ports", []))
        return [p for p in dict.fromkeys(booted + attached) if p not in detached]

    # Before a boot's Requested event named its ports, this event did, just
    # after it; no longer appended, still read.
    class PortsAssigned(Aggregate.Event):
        networks: list[NetworkRequest]
        actor: Actor

    @event(PortsAssigned)
    def _ports_assigned(self, networks: list[NetworkRequest], actor: Actor) -> None:
        self.networks = networks

    @property
    def ports_ready(self) -> bool:
        """Whether its spawn may go ahead: no ports, or all plugged on its host."""
        return not self.port_ids or self.__dict__.get("ports_plugged_on") == self.host

    def mark_ports_plugged(self, host: str, actor: Actor) -> None:
        """Every port of a server being built is plugged on its host."""
        if self.task_state != TaskState.SPAWNING or self.host != host:
            state = f"task_state {self.task_state} on {self.host}"
            raise InvalidTransition(f"instance {self.id}", state, f"ports plugged on {host}")
        if not self.ports_ready:
            self._ports_plugged(host, actor)

    class PortsPlugged(Aggregate.Event):
        host: str
        actor: Actor

    @event(PortsPlugged)
    def _ports_plugged(self, host: str, actor: Actor) -> None:
        self.ports_plugged_on = host

    def attach_port(self, port_id: str, network_id: str, actor: Actor) -> None:
        if self.vm_state in (VmState.DELETED, VmState.ERROR, VmState.BUILDING):
            raise InvalidTransition(f"instance {self.id}", str(self.vm_state), "attach_interface")
        if port_id in self.port_ids:
            raise NeutronConflict(f"Port {port_id} is already attached", "PortInUse")
        if len(self.port_ids) >= MAX_PORTS:
            raise NeutronConflict(f"A server has at most {MAX_PORTS} interfaces", "Conflict")
        self._interface_attached(port_id, network_id, actor)

    class InterfaceAttached(Aggregate.Event):
        port_id: str
        network_id: str
        actor: Actor

    @event(InterfaceAttached)
    def _interface_attached(self, port_id: str, network_id: str, actor: Actor) -> None:
        attached = list(self.__dict__.get("attached_ports", []))
        detached = list(self.__dict__.get("detached_ports", []))
        self.attached_ports = [*attached, port_id]
        self.detached_ports = [p for p in detached if p != port_id]

    def detach_port(self, port_id: str, actor: Actor) -> None:
        if self.vm_state in (VmState.DELETED, VmState.BUILDING):
            raise InvalidTransition(f"instance {self.id}", str(self.vm_state), "detach_interface")
        if port_id not in self.port_ids:
            raise NotFound(f"Port {port_id} is not attached")
        self._interface_detached(port_id, actor)

    def forget_port(self, port_id: str, actor: Actor) -> None:
        """The port was deleted under the server (through the port API):
        whatever the server's state, it no longer lists it."""
        if port_id in self.port_ids and self.vm_state != VmState.DELETED:
            self._interface_detached(port_id, actor)

    class InterfaceDetached(Aggregate.Event):
        port_id: str
        actor: Actor

    @event(InterfaceDetached)
    def _interface_detached(self, port_id: str, actor: Actor) -> None:
        attached = list(self.__dict__.get("attached_ports", []))
        detached = list(self.__dict__.get("detached_ports", []))
        self.attached_ports = [p for p in attached if p != port_id]
        self.detached_ports = [*detached, port_id]
