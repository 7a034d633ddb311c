"""Every event of an instance's life, in one list, for the views and the
relay that follow them all."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.instance import Instance
from domain.rebuild import Rebuilding
from domain.resize import RESIZE_EVENTS
from domain.tags import Tagging

LIFECYCLE_EVENTS: tuple[type[Aggregate.Event], ...] = (
    Instance.Requested,
    Instance.Scheduled,
    Instance.Spawned,
    Instance.Failed,
    Instance.StopRequested,
    Instance.Stopped,
    Instance.StartRequested,
    Instance.Started,
    Instance.PowerActionRequested,
    Instance.PowerActionDone,
    Instance.SnapshotRequested,
    Instance.SnapshotDone,
    Instance.DeleteRequested,
    Instance.Deleted,
    *RESIZE_EVENTS,
    Rebuilding.RebuildRequested,
    Rebuilding.Rebuilt,
    Tagging.TagsSet,
)
