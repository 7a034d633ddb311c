"""CloudApp: the eventsourcing Application holding every aggregate's events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.host import ComputeHost
from domain.quota import Quota
from domain.values import Actor, FlavorSnapshot


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, Any]:
        return {**asdict(obj), "roles": list(obj.roles)}

    def decode(self, data: dict[str, Any]) -> Actor:
        return Actor(**{**data, "roles": tuple(data["roles"])})


class FlavorSnapshotAsDict(Transcoding):
    type = FlavorSnapshot
    name = "flavor_snapshot"

    def encode(self, obj: FlavorSnapshot) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> FlavorSnapshot:
        return FlavorSnapshot(**data)


class CloudApp(Application):  # type: ignore[type-arg]
    """One event store (table ``cloudledger_events``) so related aggregates
    (an instance and its quota, a claim and its instance) save atomically."""

    name = "cloudledger"
    # Hosts and quotas collect an event per boot and per delete: snapshot them
    # so loading stays cheap however long the ledger grows.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        ComputeHost: 200,
        Quota: 200,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
        transcoder.register(FlavorSnapshotAsDict())
