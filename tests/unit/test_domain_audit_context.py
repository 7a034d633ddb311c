"""Every event of every aggregate says who caused it (an Actor: user, project,
roles, request id; a service for worker events) and when (the library's
timestamp): the audit trail needs nothing beside the ledger."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import domain
from domain.values import Actor


def _stored_event_classes() -> list[type]:
    from eventsourcing.domain import Aggregate, CanMutateAggregate

    found = []
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"domain.{info.name}")
        for aggregate in vars(module).values():
            if not (inspect.isclass(aggregate) and issubclass(aggregate, Aggregate)):
                continue
            if aggregate is Aggregate or aggregate.__module__ != module.__name__:
                continue
            events = {
                name: event
                for name, event in vars(aggregate).items()
                if inspect.isclass(event) and issubclass(event, CanMutateAggregate)
            }
            creates = [n for n, e in events.items() if issubclass(e, Aggregate.Created)]
            for name, event in events.items():
                # The library's own per-aggregate bases, never stored themselves;
                # a base aggregate (domain/resize.py) is only created as its subclass.
                if name == "Event" or (name == "Created" and len(creates) > 1):
                    continue
                if name == "Created" and aggregate.__subclasses__():
                    continue
                found.append(event)
    return found


def test_the_walk_finds_the_events_of_every_aggregate() -> None:
    names = {e.__qualname__ for e in _stored_event_classes()}
    for expected in (
        "Instance.Requested",
        "Quota.Reserved",
        "ComputeHost.Claimed",
        "Image.Uploaded",
        "User.RoleGranted",
        "Flavor.Created",
        "Project.Created",
    ):
        assert expected in names


def test_every_stored_event_class_carries_an_actor() -> None:
    missing = []
    for event in _stored_event_classes():
        annotations: dict[str, object] = {}
        for cls in reversed(event.__mro__):
            annotations.update(inspect.get_annotations(cls))
        if annotations.get("actor") not in ("Actor", Actor):
            missing.append(event.__qualname__)
    assert missing == []
