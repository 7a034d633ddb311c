"""What each billable resource meters, gathered from the resources'
declarations (domain/resources/: each one's Metering): the meters, and a
registry from event topics to the changes those events make to a
resource's metered stretches. The billing replay (domain/metering.py) and
the os-simple-tenant-usage projection (projections/usage.py) follow only
this, so a resource added later (volumes, floating IPs) declares its
metering in its own module and neither needs a change."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic

from domain import resources
from domain.meter_changes import (
    GIB,
    SECONDS_PER_HOUR,
    Began,
    Ended,
    Meter,
    MeterChange,
    Opened,
    Redescribed,
    Rule,
    flavor_quantities,
)

__all__ = [
    "GIB",
    "SECONDS_PER_HOUR",
    "Began",
    "Ended",
    "Meter",
    "MeterChange",
    "Opened",
    "Redescribed",
    "Rule",
    "changes_of",
    "flavor_quantities",
    "meters",
    "rules",
    "topics_for",
]


@functools.cache
def _registry() -> tuple[tuple[Meter, ...], dict[str, Rule], dict[str, str]]:
    found: list[Meter] = []
    rules_by_topic: dict[str, Rule] = {}
    kinds: dict[str, str] = {}  # topic -> the kind of resource its rule changes
    for metering in resources.meterings():
        found += metering.meters
        for cls, rule in metering.rules.items():
            topic = get_topic(cls)
            if topic in rules_by_topic:
                raise ValueError(f"two rules for {topic}")
            rules_by_topic[topic], kinds[topic] = rule, metering.kind
    names = [m.name for m in found]
    if len(set(names)) != len(names):
        raise ValueError(f"a meter is declared twice: {names}")
    return tuple(found), rules_by_topic, kinds


def meters() -> tuple[Meter, ...]:
    """Every meter, resource by resource."""
    return _registry()[0]


def rules() -> dict[str, Rule]:
    """Event topic -> what events of that topic change."""
    return _registry()[1]


def topics_for(kind: str) -> tuple[str, ...]:
    """The topics whose rules change resources of this kind."""
    return tuple(topic for topic, k in _registry()[2].items() if k == kind)


def changes_of(event: Any, kind: str | None = None) -> Sequence[MeterChange]:
    """The meter changes an event makes (none for events no rule names),
    or only those to resources of ``kind``."""
    _, rules_by_topic, kinds = _registry()
    topic = get_topic(type(event))
    found = rules_by_topic.get(topic)
    if found is None or (kind is not None and kinds[topic] != kind):
        return ()
    return found(event)


def __getattr__(name: str) -> Any:
    """``METERS``, ``RULES`` and ``KINDS``, as modules imported them before
    they were gathered from the declarations (on first use, not at import)."""
    if name == "METERS":
        return meters()
    if name == "RULES":
        return rules()
    if name == "KINDS":
        return dict(_registry()[2])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
