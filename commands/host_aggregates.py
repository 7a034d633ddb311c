"""Host aggregates: create, rename, metadata, hosts, delete (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.app import CloudApp
from commands.loading import load, parse_uuid
from commands.names import claim_of, renamed, take
from commands.receipt import Receipt
from domain.errors import NotFound
from domain.host import ComputeHost
from domain.host_aggregate import ZONE_KEY, HostAggregate
from domain.values import Actor, require_text


@dataclass(frozen=True)
class CreateHostAggregate:
    name: str
    availability_zone: str | None = None


def create_aggregate(cmd: CreateHostAggregate, app: CloudApp, actor: Actor) -> Receipt:
    require_text(cmd.name, "Aggregate name")
    metadata = {ZONE_KEY: cmd.availability_zone} if cmd.availability_zone else {}
    if cmd.availability_zone is not None:
        require_text(cmd.availability_zone, "Availability zone")
    aggregate = HostAggregate(name=cmd.name, metadata=metadata, actor=actor)
    claim = take(app, "aggregate", "", cmd.name, aggregate.id.hex, "Aggregate", actor)
    return Receipt.of(aggregate.id, app.save(aggregate, claim))


def load_aggregate(app: CloudApp, aggregate_id: str) -> HostAggregate:
    label = f"Aggregate {aggregate_id}"
    aggregate = load(app, HostAggregate, parse_uuid(aggregate_id, label), label)
    if aggregate.deleted:
        raise NotFound(f"{label} could not be found.")
    return aggregate


def change_aggregate(
    aggregate_id: str, change: dict[str, Any], app: CloudApp, actor: Actor
) -> Receipt:
    """One of: ``name``/``availability_zone`` (update), ``add_host``,
    ``remove_host``, ``set_metadata``."""
    aggregate = load_aggregate(app, aggregate_id)
    claims = []
    if "name" in change:
        claims = renamed(
            app,
            "aggregate",
            "",
            (aggregate.name, change["name"]),
            aggregate.id.hex,
            "Aggregate",
            actor,
        )
        aggregate.rename(change["name"], actor)
    if "availability_zone" in change:
        aggregate.set_metadata({ZONE_KEY: change["availability_zone"]}, actor)
    if "set_metadata" in change:
        aggregate.set_metadata(change["set_metadata"], actor)
    if "add_host" in change:
        host = change["add_host"]
        load(app, ComputeHost, ComputeHost.create_id(host), f"Compute host {host}")
        aggregate.add_host(host, actor)
    if "remove_host" in change:
        aggregate.remove_host(change["remove_host"], actor)
    return Receipt.of(aggregate.id, app.save(aggregate, *claims))


def delete_aggregate(aggregate_id: str, app: CloudApp, actor: Actor) -> Receipt:
    aggregate = load_aggregate(app, aggregate_id)
    aggregate.delete(actor)
    claim = claim_of(app, "aggregate", "", aggregate.name)
    claim.release(aggregate.id.hex, actor)
    return Receipt.of(aggregate.id, app.save(aggregate, claim))
