"""CloudApp: the eventsourcing Application holding every aggregate's events."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterable, Mapping
from copy import deepcopy
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Repository,
)
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from commands.declarations import CommandResource
from commands.ledger_store import RenderedSelects
from domain.discovery import declarations
from domain.values import Actor


@functools.cache
def resources() -> tuple[CommandResource, ...]:
    """Every resource's command side (commands/resources/), read when the
    first application is made: a resource's own commands import this module."""
    return declarations("commands", CommandResource)


_ACTOR_SCOPE = {  # Actor's scope fields and their defaults
    "project_domain_id": "",
    "domain_id": "",
    "system_scope": "",
    "is_admin_project": False,
    "cloud_admin": None,
}


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies, a tenth of an append's time.
        data: dict[str, Any] = {
            "user_id": obj.user_id,
            "project_id": obj.project_id,
            "roles": list(obj.roles),
            "request_id": obj.request_id,
        }
        # The token's scope only where it says something: the actors stored
        # before scopes, and the cloud's own, keep their bytes.
        for name, default in _ACTOR_SCOPE.items():
            value = getattr(obj, name)
            if value != default:
                data[name] = value
        return data

    def decode(self, data: dict[str, Any]) -> Actor:
        return Actor(**{**data, "roles": tuple(data["roles"])})


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
        kwargs.setdefault("projector_func", _projected)
        if self.cache is None or kwargs.get("version") is not None:
            return super().get(aggregate_id, **kwargs)  # no shared object involved
        with self._stripes[hash(aggregate_id) % self.STRIPES]:
            return super().get(aggregate_id, **kwargs)

    def get_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
        """The current state of each aggregate that exists, as ``get`` gives
        it, in at most two queries for all of them (a batch job loaded each
        of its instances with one or two queries of its own)."""
        ids = list(dict.fromkeys(aggregate_ids))
        if not isinstance(self.event_store.recorder, RenderedSelects):
            return self._get_each(ids)  # another store (the in-memory one of unit tests)
        stripes = sorted({hash(i) % self.STRIPES for i in ids})  # in order: no deadlock
        for stripe in stripes:
            self._stripes[stripe].acquire()
        try:
            return self._get_many(ids)
        finally:
            for stripe in stripes:
                self._stripes[stripe].release()

    def _get_each(self, ids: list[UUID]) -> dict[UUID, Any]:
        found: dict[UUID, Any] = {}
        for i in ids:
            with contextlib.suppress(AggregateNotFoundError):
                found[i] = self.get(i)
        return found

    def _get_many(self, ids: list[UUID]) -> dict[UUID, Any]:
        events = self.event_store.recorder
        assert isinstance(events, RenderedSelects)
        to_domain = self.event_store.mapper.to_domain_event
        cached: dict[UUID, Any] = {}
        if self.cache is not None:
            for i in ids:
                with contextlib.suppress(KeyError):
                    cached[i] = self.cache.get(i)
        missing = [i for i in ids if i not in cached]
        snapshots: dict[UUID, Any] = {}
        if self.snapshot_store is not None and missing:
            recorder = self.snapshot_store.recorder
            assert isinstance(recorder, RenderedSelects), "needs the ledger's recorder"
            latest = recorder.select_latest(missing)
            snapshots = {
                i: self.snapshot_store.mapper.to_domain_event(s) for i, s in latest.items()
            }
        after = {i: a.version for i, a in cached.items()}
        after.update({i: snapshots[i].originator_version if i in snapshots else 0 for i in missing})
        new_events = events.select_many(after)
        found: dict[UUID, Any] = {}
        for i in ids:
            stream = [to_domain(e) for e in new_events.get(i, [])]
            if i in cached:
                aggregate = _projected(cached[i], stream)
            else:
                start = [snapshots[i]] if i in snapshots else []
                aggregate = _projected(None, [*start, *stream])
                if aggregate is not None and self.cache is not None:
                    self.cache.put(i, aggregate)
            if aggregate is None:
                continue  # no such aggregate (or it was discarded)
            found[i] = deepcopy(aggregate) if self.cache is not None else aggregate
        return found


def _projected(aggregate: Any, stream: list[Any]) -> Any:
    """The library's ``project_aggregate`` without its per-event check
    against a runtime Protocol (an ``isinstance`` that costs more than most
    events' mutation): every event here comes from the ledger's mapper."""
    for domain_event in stream:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class CloudApp(Application):  # type: ignore[type-arg]
    """One event store (table ``cloudledger_events``) so related aggregates
    (an instance and its quota, a claim and its instance) save atomically."""

    name = "cloudledger"
    repository: ThreadSafeRepository  # built by construct_repository below
    # Hosts and quotas collect an event per boot and per delete: their
    # resources ask for snapshots (filled in at the first construction), so
    # loading stays cheap however long the ledger grows.
    is_snapshotting_enabled = True
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        if not CloudApp.snapshotting_intervals:
            for resource in resources():
                for cls, every in resource.snapshot_every.items():
                    CloudApp.snapshotting_intervals[cls] = every
        super().__init__(env)

    def construct_repository(self) -> ThreadSafeRepository:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return ThreadSafeRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
        )

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())  # every event's
        for resource in resources():
            for transcoding in resource.transcodings:
                transcoder.register(transcoding)
