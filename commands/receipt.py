"""What a command hands back: the id it acted on and where its events landed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Recording


@dataclass(frozen=True)
class Receipt:
    """The aggregate id plus (notification id, topic) of every appended event,
    so a caller can wait until the projections it reads have caught up."""

    id: UUID
    events: tuple[tuple[int, str], ...] = field(default=())

    @classmethod
    def of(cls, aggregate_id: UUID, recordings: Sequence[Recording[Any]]) -> Receipt:
        return cls(
            aggregate_id,
            tuple((r.notification.id, r.notification.topic) for r in recordings),
        )
