"""Several read models fed from one read of the event log.

One follower reads each batch once, deserialises it once, and applies it to
every view in ONE transaction that also advances each view's own tracking row;
so each view stays exactly-once and rebuildable on its own, while the
projector pays one query and one commit per batch instead of one per view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from projections.view import ProjectionView, record_positions


class ViewGroup:
    """Views sharing one datastore, so one transaction can cover them all."""

    def __init__(self, datastore: PostgresDatastore, views: Sequence[ProjectionView]) -> None:
        if any(view.datastore is not datastore for view in views):
            raise ValueError("views in a group must share the group's datastore")
        self.datastore, self.views = datastore, list(views)
        self.topics = tuple(sorted({t for view in views for t in view.topics}))
        self.positions: dict[str, int] = {}
        self.reload_positions()

    def reload_positions(self) -> None:
        self.positions = {view.name: view.position() for view in self.views}

    def position(self) -> int:
        """Where the group's reader resumes: the view furthest behind."""
        self.reload_positions()
        return min(self.positions.values(), default=0)

    def apply_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        last = events[-1][1]
        with self.datastore.transaction(commit=True) as cur:  # durable: see ProjectionView
            moves = []
            for view in self.views:
                start = self.positions[view.name]
                if last > start:  # else this view is past the batch (e.g. rebuilt alone)
                    moves.append((view, view.apply_within(cur, events, after=start)))
            if moves:
                record_positions(cur, moves)
        for view in self.views:
            self.positions[view.name] = max(self.positions[view.name], last)
        return last
