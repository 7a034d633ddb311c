"""Loading aggregates by id with domain errors instead of library errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from commands.app import CloudApp
from domain.errors import NotFound

A = TypeVar("A", bound=Aggregate)


def load(app: CloudApp, kind: type[A], aggregate_id: UUID, label: str) -> A:
    """The aggregate, or NotFound with a message naming what was asked for."""
    try:
        aggregate: Aggregate = app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        raise NotFound(f"{label} could not be found.") from None
    if not isinstance(aggregate, kind):
        raise NotFound(f"{label} could not be found.")
    return aggregate


def load_many(app: CloudApp, kind: type[A], aggregate_ids: Iterable[UUID]) -> dict[UUID, A]:
    """Those of the aggregates that exist and are of this kind, by id, read
    in one or two queries for all of them."""
    found = app.repository.get_many(aggregate_ids)
    return {i: a for i, a in found.items() if isinstance(a, kind)}


class BatchAggregates:
    """The aggregates one batch changes, each loaded once, so that several
    items changing one host or quota change the same copy (saved together)."""

    def __init__(self, app: CloudApp) -> None:
        self.app = app
        self.loaded: dict[UUID, Aggregate] = {}

    def get(self, kind: type[A], aggregate_id: UUID) -> A:
        if aggregate_id not in self.loaded:
            self.loaded[aggregate_id] = load(self.app, kind, aggregate_id, kind.__name__)
        aggregate = self.loaded[aggregate_id]
        assert isinstance(aggregate, kind)
        return aggregate

    def get_many(self, kind: type[A], ids: Iterable[UUID]) -> dict[UUID, A]:
        """Those of ``ids`` that exist (one query for the ones not loaded yet)."""
        wanted = list(dict.fromkeys(ids))
        missing = [i for i in wanted if i not in self.loaded]
        if missing:
            self.loaded.update(load_many(self.app, kind, missing))
        found: dict[UUID, A] = {}
        for aggregate_id in wanted:
            aggregate = self.loaded.get(aggregate_id)
            if isinstance(aggregate, kind):
                found[aggregate_id] = aggregate
        return found


def parse_uuid(value: str, label: str) -> UUID:
    """A UUID from user input, or NotFound (a malformed id names nothing)."""
    try:
        return UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"{label} could not be found.") from None
