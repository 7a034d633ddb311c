"""The words a resource declares its command side in (commands/resources/):
how its value objects are stored in events, and which of its aggregates
the application snapshots (their histories grow with every boot)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Transcoding


@dataclass(frozen=True)
class CommandResource:
    """One resource's command side: ``transcodings`` for the value objects
    its events carry (registered by commands/app.py), and ``snapshot_every``
    aggregate class -> how many events between its snapshots."""

    name: str
    transcodings: tuple[Transcoding, ...] = ()
    snapshot_every: Mapping[type[Aggregate], int] = field(default_factory=dict)
