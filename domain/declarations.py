"""The words a resource declares its domain side in (domain/resources/):
its aggregates, how the audit trail names it, what it meters for billing,
and its quota keys with their default limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate, CommandMethodDecorator

from domain.meter_changes import Meter, Rule


@dataclass(frozen=True)
class AuditType:
    """A resource as the audit trail names it (projections/audit.py): its type
    for ``--type`` and its CADF typeURI, the aggregate classes whose events
    are it (by name, as an event's outer class), and the API path segments
    whose refused requests are about it (projections/audit_trail.py)."""

    name: str
    type_uri: str
    aggregates: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metering:
    """What a billable resource meters (domain/meters.py): resources of
    ``kind``, its ``meters``, and what each event class changes (``rules``)."""

    kind: str
    meters: tuple[Meter, ...] = ()
    rules: Mapping[type, Rule] = field(default_factory=dict)


@dataclass(frozen=True)
class DomainResource:
    """One resource's domain side. ``unwatched`` lists events of its
    aggregates that no read model shows, so no request waits for them
    (unit-tested: every other event is some view's)."""

    name: str
    aggregates: tuple[type[Aggregate], ...] = ()
    audit: tuple[AuditType, ...] = ()
    metering: Metering | None = None
    quota: Mapping[str, int] = field(default_factory=dict)
    unwatched: tuple[type, ...] = ()

    def events(self) -> tuple[type, ...]:
        """Every event class its aggregates can store (those their methods
        trigger, bases' included), in a stable order."""
        found: dict[type, None] = {}
        for aggregate in self.aggregates:
            for cls in aggregate.__mro__:
                for member in vars(cls).values():
                    if isinstance(member, CommandMethodDecorator):
                        given = member.given_event_cls
                        name = given.__name__ if given else member.event_cls_name or ""
                        # The class as the aggregate holds it (the library
                        # remakes the one the decorator was given).
                        triggered = getattr(cls, name, None)
                        if isinstance(triggered, type):
                            found.setdefault(triggered)
        return tuple(found)
