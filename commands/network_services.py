"""NetworkCommands: every networking command the API gives, each one load,
decide, save in one atomic save, retried whole on a concurrent write.

Creates of ports and floating IPs come in batches per network (the API
gathers them, api/batching.py): each batch allocates on the network's
subnets in one pass and one save, so concurrent requests for one pool take
turns without each paying a round of database trips (commands/combining.py
explains the same for boots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands import (
    network_floating_ips,
    network_port_changes,
    network_ports,
    network_routers,
    network_security,
    network_subnet_pools,
    network_subnets,
    networks,
)
from commands.app import CloudApp
from commands.network_batch import NetworkBatch, run_batch
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import DomainError
from domain.values import Actor

T = TypeVar("T")
Q = TypeVar("Q")

PortRequest = tuple[network_ports.PortSpec, Actor]
FloatingIpRequest = tuple[network_floating_ips.FloatingIpSpec, Actor]


@dataclass(frozen=True)
class Made:
    """What a command made or changed, and where its events landed."""

    ids: tuple[UUID, ...]
    receipt: Receipt
    extra: Any = None

    @property
    def id(self) -> UUID:
        return self.ids[0]


def _receipt(aggregate_id: UUID, recordings: Sequence[Any]) -> Receipt:
    return Receipt.of(aggregate_id, recordings)


class NetworkCommands:
    """The Networking API's commands on one CloudApp."""

    def __init__(self, app: CloudApp) -> None:
        self.app = app

    # Plumbing ----------------------------------------------------------

    def _one(
        self, actor: Actor, change: Callable[[NetworkBatch], Aggregate | tuple[Aggregate, Any]]
    ) -> Made:
        """One change (or an all-or-nothing bulk one), saved at once."""

        def attempt() -> Made:
            batch = NetworkBatch(self.app)
            outcome = change(batch)
            aggregate, extra = outcome if isinstance(outcome, tuple) else (outcome, None)
            recordings = batch.save(actor)
            return Made((aggregate.id,), _receipt(aggregate.id, recordings), extra)

        return retry_on_conflict(attempt)

    def _bulk(self, actor: Actor, change: Callable[[NetworkBatch], list[Aggregate]]) -> Made:
        def attempt() -> Made:
            batch = NetworkBatch(self.app)
            made = change(batch)
            recordings = batch.save(actor)
            ids = tuple(a.id for a in made)
            return Made(ids, _receipt(ids[0], recordings))

        return retry_on_conflict(attempt)

    def _batched(
        self,
        requests: Sequence[tuple[Q, Actor]],
        handle: Callable[[NetworkBatch, Q, Actor], Aggregate],
    ) -> list[Made | BaseException]:
        """Each request's own outcome; the ones that pass in one save."""
        if not requests:
            return []

        def attempt() -> list[Made | BaseException]:
            outcomes, recordings = run_batch(
                self.app,
                list(requests),
                lambda batch, request: handle(batch, request[0], request[1]),
                requests[0][1],
            )
            return [
                o if isinstance(o, DomainError) else Made((o.id,), _receipt(o.id, recordings))
                for o in outcomes
            ]

        return retry_on_conflict(attempt)

    # Networks ------------------------------------------------------------

    def create_networks(self, specs: Sequence[networks.NetworkSpec], actor: Actor) -> Made:
        return self._bulk(actor, lambda b: [networks.create_network_in(b, s, actor) for s in specs])

    def update_network(self, network_id: str, changes: dict[str, object], actor: Actor) -> Made:
        return self._one(actor, lambda b: networks.update_network_in(b, network_id, changes, actor))

    def delete_network(self, network_id: str, actor: Actor) -> Made:
        return self._one(actor, lambda b: networks.delete_network_in(b, network_id, actor))

    # Subnets -------------------------------------------------------------

    def create_subnets(self, specs: Sequence[network_subnets.SubnetSpec], actor: Actor) -> Made:
        return self._bulk(
            actor, lambda b: [network_subnets.create_subnet_in(b, s, actor) for s in specs]
        )

    def update_subnet(self, subnet_id: str, changes: dict[str, object], actor: Actor) -> Made:
        return self._one(
            actor, lambda b: network_subnets.update_subnet_in(b, subnet_id, changes, actor)
        )

    def delete_subnet(self, subnet_id: str, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_subnets.delete_subnet_in(b, subnet_id, actor))

    # Subnet pools --------------------------------------------------------

    def create_subnet_pool(self, spec: network_subnet_pools.SubnetPoolSpec, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_subnet_pools.create_pool_in(b, spec, actor))

    def update_subnet_pool(self, pool_id: str, changes: dict[str, object], actor: Actor) -> Made:
        return self._one(
            actor, lambda b: network_subnet_pools.update_pool_in(b, pool_id, changes, actor)
        )

    def delete_subnet_pool(self, pool_id: str, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_subnet_pools.delete_pool_in(b, pool_id, actor))

    # Ports ---------------------------------------------------------------

    def create_ports(self, requests: Sequence[PortRequest]) -> list[Made | BaseException]:
        """Ports of one network, each with its own outcome, in one save."""
        return self._batched(requests, network_ports.create_port_in)

    def create_ports_bulk(self, specs: Sequence[network_ports.PortSpec], actor: Actor) -> Made:
        """Neutron's bulk create: all of them or none."""
        return self._bulk(
            actor, lambda b: [network_ports.create_port_in(b, s, actor) for s in specs]
        )

    def update_port(
        self,
        port_id: str,
        changes: dict[str, object],
        update: network_port_changes.PortUpdate,
        actor: Actor,
    ) -> Made:
        return self._one(
            actor, lambda b: network_port_changes.update_port_in(b, port_id, changes, update, actor)
        )

    def delete_port(self, port_id: str, actor: Actor) -> Made:
        def change(batch: NetworkBatch) -> Aggregate:
            port = network_port_changes.deletable_port(batch, port_id, actor)
            network_port_changes.delete_port_in(batch, port, actor)
            return port

        return self._one(actor, change)

    # Routers -------------------------------------------------------------

    def create_router(self, spec: network_routers.RouterSpec, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_routers.create_router_in(b, spec, actor))

    def update_router(
        self,
        router_id: str,
        changes: dict[str, object],
        gateway: object,
        routes: object,
        actor: Actor,
    ) -> Made:
        return self._one(
            actor,
            lambda b: network_routers.update_router_in(
                b,
                router_id,
                changes,
                gateway,
                routes,
                actor,
            ),
        )

    def delete_router(self, router_id: str, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_routers.delete_router_in(b, router_id, actor))

    def add_router_interface(
        self, router_id: str, subnet_id: str, port_id: str, actor: Actor
    ) -> Made:
        def change(batch: NetworkBatch) -> tuple[Aggregate, Any]:
            made = network_routers.add_interface_in(batch, router_id, subnet_id, port_id, actor)
            return made.router, made

        return self._one(actor, change)

    def remove_router_interface(
        self, router_id: str, subnet_id: str, port_id: str, actor: Actor
    ) -> Made:
        def change(batch: NetworkBatch) -> tuple[Aggregate, Any]:
            gone = network_routers.remove_interface_in(batch, router_id, subnet_id, port_id, actor)
            return gone.router, gone

        return self._one(actor, change)

    # Floating IPs ----------------------------------------------------------

    def create_floating_ips(
        self, requests: Sequence[FloatingIpRequest]
    ) -> list[Made | BaseException]:
        """Floating IPs of one external network, each with its own outcome."""
        return self._batched(requests, network_floating_ips.create_floating_ip_in)

    def update_floating_ip(
        self,
        floating_ip_id: str,
        port_id: object,
        fixed_ip: str,
        description: str | None,
        actor: Actor,
    ) -> Made:
        return self._one(
            actor,
            lambda b: network_floating_ips.update_floating_ip_in(
                b, floating_ip_id, port_id, fixed_ip, description, actor
            ),
        )

    def delete_floating_ip(self, floating_ip_id: str, actor: Actor) -> Made:
        return self._one(
            actor, lambda b: network_floating_ips.delete_floating_ip_in(b, floating_ip_id, actor)
        )

    # Security groups -------------------------------------------------------

    def ensure_default_group(self, project_id: str, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_security.default_group(b, project_id, actor))

    def create_security_group(
        self, name: str, description: str, project_id: str, actor: Actor
    ) -> Made:
        return self._one(
            actor,
            lambda b: network_security.create_group_in(b, name, description, project_id, actor),
        )

    def update_security_group(
        self, group_id: str, name: str | None, description: str | None, actor: Actor
    ) -> Made:
        return self._one(
            actor,
            lambda b: network_security.update_group_in(b, group_id, name, description, actor),
        )

    def delete_security_group(self, group_id: str, actor: Actor) -> Made:
        return self._one(actor, lambda b: network_security.delete_group_in(b, group_id, actor))

    def create_security_group_rule(self, spec: network_security.RuleSpec, actor: Actor) -> Made:
        def change(batch: NetworkBatch) -> tuple[Aggregate, Any]:
            group, rule_id = network_security.add_rule_in(batch, spec, actor)
            return group, rule_id

        return self._one(actor, change)

    def delete_security_group_rule(self, group_id: str, rule_id: str, actor: Actor) -> Made:
        return self._one(
            actor, lambda b: network_security.remove_rule_in(b, group_id, rule_id, actor)
        )
