"""One save's worth of networking changes: every aggregate a batch of
requests reads or changes, loaded once (so that two requests of the batch
allocating on one subnet see each other's addresses), the new ones it
made, and what to save at the end, in one atomic ``app.save``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from commands.app import CloudApp
from domain.errors import DomainError, Forbidden, NotFound
from domain.floating_ip import FloatingIP
from domain.network import Network
from domain.port import Port
from domain.quota import Quota
from domain.router import Router
from domain.security_group import SecurityGroup
from domain.subnet import Subnet, SubnetAllocator
from domain.subnet_pool import SubnetPool
from domain.values import Actor

A = TypeVar("A", bound=Aggregate)


class SecurityGroupRuleKind:
    """Names a rule in a 404 (rules live inside their group's aggregate)."""


# What each kind is called in Neutron's "could not be found" errors.
_LABELS: dict[type, tuple[str, str]] = {
    SecurityGroupRuleKind: ("Security group rule", "SecurityGroupRuleNotFound"),
    Network: ("Network", "NetworkNotFound"),
    Subnet: ("Subnet", "SubnetNotFound"),
    Port: ("Port", "PortNotFound"),
    Router: ("Router", "RouterNotFound"),
    FloatingIP: ("Floating IP", "FloatingIPNotFound"),
    SecurityGroup: ("Security group", "SecurityGroupNotFound"),
    SubnetPool: ("Subnet pool", "SubnetPoolNotFound"),
}


class NeutronNotFound(NotFound):
    """A 404 naming the kind the way Neutron's exception does."""

    def __init__(self, kind: type, ident: object) -> None:
        label, neutron_type = _LABELS.get(kind, (kind.__name__, f"{kind.__name__}NotFound"))
        if kind in (SecurityGroup, SecurityGroupRuleKind):
            super().__init__(f"{label} {ident} does not exist")
        else:
            super().__init__(f"{label} {ident} could not be found.")
        self.neutron_type = neutron_type


class NeutronForbidden(Forbidden):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.neutron_type = "HTTPForbidden"


def parse_id(kind: type, value: object) -> UUID:
    """A UUID from a request, or the kind's 404 (a malformed id names nothing)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value)) if isinstance(value, str) and len(value) <= 64 else UUID("")
    except ValueError:
        raise NeutronNotFound(kind, str(value)[:64]) from None


class NetworkBatch:
    """The aggregates of one save."""

    def __init__(self, app: CloudApp) -> None:
        self.app = app
        self.loaded: dict[UUID, Aggregate | None] = {}
        self.new: dict[UUID, Aggregate] = {}
        self._allocators: dict[UUID, SubnetAllocator] = {}
        # Changes to a network's port list and to a group's members, applied
        # as one event per aggregate when the batch is saved.
        self.network_ports: dict[
            UUID, tuple[Network, dict[str, tuple[str, str, str]], list[str]]
        ] = {}
        self.group_members: dict[UUID, tuple[SecurityGroup, dict[str, list[str]], list[str]]] = {}
        # Each network's MACs, read from its port list once per batch (a
        # scan of every port on it) and added to as the batch adds ports.
        self._macs: dict[UUID, set[str]] = {}

    def preload(self, ids: list[UUID]) -> None:
        """Read these in one or two queries (absent ones are remembered too)."""
        wanted = [i for i in ids if i not in self.loaded and i not in self.new]
        if wanted:
            found = self.app.repository.get_many(wanted)
            for i in wanted:
                self.loaded[i] = found.get(i)

    def find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate if it exists and is of this kind (deleted ones too)."""
        if aggregate_id in self.new:
            made = self.new[aggregate_id]
            return made if isinstance(made, kind) else None
        if aggregate_id not in self.loaded:
            self.preload([aggregate_id])
        found = self.loaded[aggregate_id]
        return found if isinstance(found, kind) else None

    def get(self, kind: type[A], value: object) -> A:
        """A live aggregate of this kind, or its 404."""
        aggregate_id = parse_id(kind, value)
        found = self.find(kind, aggregate_id)
        if found is None or getattr(found, "deleted", False):
            raise NeutronNotFound(kind, aggregate_id)
        return found

    def visible(self, kind: type[A], value: object, actor: Actor) -> A:
        """A live aggregate the actor may see, else the same 404 as unknown."""
        found = self.get(kind, value)
        if not found.visible_to(actor):  # type: ignore[attr-defined]
            raise NeutronNotFound(kind, parse_id(kind, value))
        return found

    def find_group(self, group_id: str) -> SecurityGroup | None:
        try:
            return self.find(SecurityGroup, UUID(group_id))
        except ValueError:
            return None

    def quota(self, project_id: str) -> Quota:
        quota = self.find(Quota, Quota.create_id(project_id))
        if quota is None:
            raise NotFound(f"Project {project_id} could not be found.")
        return quota

    def add(self, aggregate: Aggregate) -> None:
        self.new[aggregate.id] = aggregate

    def allocators(self) -> list[SubnetAllocator]:
        return list(self._allocators.values())

    def allocator(self, subnet: Subnet) -> SubnetAllocator:
        if subnet.id not in self._allocators:
            self._allocators[subnet.id] = SubnetAllocator(subnet)
        return self._allocators[subnet.id]

    def port_added(self, network: Network, port: Port) -> None:
        _, added, _ = self.network_ports.setdefault(network.id, (network, {}, []))
        added[str(port.id)] = (port.device_owner, port.project_id, port.mac_address)
        self.macs_taken(network).add(port.mac_address)

    def macs_taken(self, network: Network) -> set[str]:
        """The network's MACs, with those of ports added to it in this batch."""
        if network.id not in self._macs:
            self._macs[network.id] = network.macs_in_use()
        return self._macs[network.id]

    def port_removed(self, network: Network, port_id: str) -> None:
        _, added, removed = self.network_ports.setdefault(network.id, (network, {}, []))
        added.pop(port_id, None)
        removed.append(port_id)

    def member_joined(self, group: SecurityGroup, port_id: str, addresses: list[str]) -> None:
        _, joined, left = self.group_members.setdefault(group.id, (group, {}, []))
        joined[port_id] = addresses
        if port_id in left:
            left.remove(port_id)

    def member_left(self, group: SecurityGroup, port_id: str) -> None:
        _, joined, left = self.group_members.setdefault(group.id, (group, {}, []))
        joined.pop(port_id, None)
        left.append(port_id)

    def flush(self, actor: Actor) -> None:
        """Apply the gathered addresses, port-list and membership changes."""
        for allocator in self._allocators.values():
            allocator.flush(actor)
        for network, added, removed in self.network_ports.values():
            if not network.deleted:
                network.remove_ports(removed, actor)
                network.add_ports(added, actor)
        for group, joined, left in self.group_members.values():
            if not group.deleted:
                group.change_members(joined, left, actor)
        self.network_ports.clear()
        self.group_members.clear()

    def changed(self) -> list[Aggregate]:
        """What to save: new aggregates and loaded ones with pending events."""
        touched = [a for a in self.loaded.values() if a is not None and _pending(a)]
        return [*self.new.values(), *touched]

    def save(self, actor: Actor) -> list[Recording[Any]]:
        self.flush(actor)
        aggregates = self.changed()
        return list(self.app.save(*aggregates)) if aggregates else []

    def forget(self, aggregate_id: UUID) -> None:
        with contextlib.suppress(KeyError):
            del self.loaded[aggregate_id]


def _pending(aggregate: Aggregate) -> bool:
    return bool(aggregate.__dict__.get("_pending_events"))


def pending_count(batch: NetworkBatch) -> int:
    """How much a batch has changed so far (events not yet saved, and new
    aggregates): a request that failed after changing it spoils the batch."""
    aggregates = [*batch.new.values(), *(a for a in batch.loaded.values() if a is not None)]
    deferred = (
        sum(len(a) + len(r) for _, a, r in batch.network_ports.values())
        + sum(len(j) + len(left) for _, j, left in batch.group_members.values())
        + sum(len(a.pending) for a in batch.allocators())
    )
    return (
        len(batch.new)
        + deferred
        + sum(len(a.__dict__.get("_pending_events", ())) for a in aggregates)
    )


R = TypeVar("R")
Q = TypeVar("Q")


def run_batch(
    app: CloudApp, requests: list[Q], handle: Callable[[NetworkBatch, Q], R], actor: Actor
) -> tuple[list[R | DomainError], list[Recording[Any]]]:
    """Run each request on one shared batch and save the batch once. A
    refused request changes nothing: handlers check before they change, and
    one that fails after changing something has the batch run again
    without it. Returns each outcome and the recordings of the save."""
    failed: dict[int, DomainError] = {}
    while True:
        batch = NetworkBatch(app)
        results: dict[int, R] = {}
        spoiled = False
        for index, request in enumerate(requests):
            if index in failed:
                continue
            before = pending_count(batch)
            try:
                results[index] = handle(batch, request)
            except DomainError as exc:
                failed[index] = exc
                if pending_count(batch) != before:
                    spoiled = True
                    break
        if not spoiled:
            break
    recordings = batch.save(actor)
    return [failed[i] if i in failed else results[i] for i in range(len(requests))], recordings
