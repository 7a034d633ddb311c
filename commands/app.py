"""CloudApp: the eventsourcing Application holding every aggregate's events."""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, Repository
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


class ThreadSafeRepository(Repository[UUID]):
    """The library's repository, safe to share between threads.

    With the aggregate cache on, ``get`` fast-forwards the cached aggregate
    under a lock but deep-copies it after releasing that lock, so a copy can
    run while another thread's fast-forward mutates the same object
    ("dictionary changed size during iteration"). Here the whole get of one
    aggregate runs under one lock (striped by id)."""

    STRIPES = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stripes = tuple(threading.Lock() for _ in range(self.STRIPES))

    def get(self, aggregate_id: UUID, **kwargs: Any) -> Any:
        if self.cache is None or kwargs.get("version") is not None:
            return super().get(aggregate_id, **kwargs)  # no shared object involved
        with self._stripes[hash(aggregate_id) % self.STRIPES]:
            return super().get(aggregate_id, **kwargs)


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

    def construct_repository(self) -> Repository[UUID]:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return ThreadSafeRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
        )

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
        transcoder.register(FlavorSnapshotAsDict())
