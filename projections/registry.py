"""The read models, gathered from each resource's declaration
(projections/resources/), and which ones a write must wait for."""

from __future__ import annotations

from collections.abc import Iterable

from domain.discovery import declarations
from projections.declarations import ProjectionResource
from projections.view import ProjectionView

RESOURCES = declarations("projections", ProjectionResource)
VIEW_CLASSES: tuple[type[ProjectionView], ...] = tuple(v for r in RESOURCES for v in r.views)


def positions_to_wait_for(events: Iterable[tuple[int, str]]) -> dict[str, int]:
    """For each read model that handles any of these (id, topic) events, the
    highest notification id it must reach before a reader sees the write."""
    targets: dict[str, int] = {}
    for notification_id, topic in events:
        for view in VIEW_CLASSES:
            if topic in view.topics:
                targets[view.name] = max(targets.get(view.name, 0), notification_id)
    return targets
