"""What each event means to the pipeline, said once.

A route says which event owes which job, on which queue, and which later
events of the same aggregate complete it (the work is done, or superseded).
A placement says which event tells the relay where an aggregate lives (its
host) and which event makes it forget. The relay, its reconcile, the worker
roles and `cloudledger run` are all derived from these declarations: a new
resource declares its routes and writes its jobs, and nothing else changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.instance import Instance
from domain.rebuild import Rebuilding
from domain.resize import Resizing


@dataclass(frozen=True)
class QueueFamily:
    """Queues of one kind of worker: one queue, or one per compute host."""

    name: str
    per_host: bool = False

    def queue(self, host: str | None = None) -> str:
        if self.per_host:
            if not host:
                raise ValueError(f"the {self.name} queues are per host: name the host")
            return f"{self.name}.{host}"
        return self.name

    def family_of(self, queue: str) -> bool:
        return queue == self.name or queue.startswith(f"{self.name}.")


SCHEDULER = QueueFamily("scheduler")
COMPUTE = QueueFamily("compute", per_host=True)
FAMILIES = (SCHEDULER, COMPUTE)


@dataclass(frozen=True)
class Route:
    """``owed_by`` owes a ``kind`` job on ``family``'s queue until one of
    ``completed_by`` comes. For a per-host family the queue is that of the
    aggregate's host, or of the host the event names in ``host_field`` (a
    resize works on two hosts); an event that names none owes nothing."""

    kind: str
    owed_by: type
    family: QueueFamily
    completed_by: tuple[type, ...]
    host_field: str = ""


@dataclass(frozen=True)
class Placement:
    """``set_by`` (its ``field``) says where an aggregate lives; ``cleared_by`` forgets it."""

    set_by: type
    field: str
    cleared_by: tuple[type, ...]


# A delete supersedes whatever the host was doing; a failure ends it.
_ENDED = (Instance.Failed, Instance.DeleteRequested, Instance.Deleted)

ROUTES: tuple[Route, ...] = (
    Route(
        "schedule",
        Instance.Requested,
        SCHEDULER,
        (Instance.Scheduled, Instance.Failed, Instance.Deleted),
    ),
    Route("spawn", Instance.Scheduled, COMPUTE, (Instance.Spawned, *_ENDED)),
    Route("stop", Instance.StopRequested, COMPUTE, (Instance.Stopped, *_ENDED)),
    Route("start", Instance.StartRequested, COMPUTE, (Instance.Started, *_ENDED)),
    # Reboots, pauses, suspends and their undoing (domain/power.py).
    Route("power", Instance.PowerActionRequested, COMPUTE, (Instance.PowerActionDone, *_ENDED)),
    Route("snapshot", Instance.SnapshotRequested, COMPUTE, (Instance.SnapshotDone, *_ENDED)),
    Route("rebuild", Rebuilding.RebuildRequested, COMPUTE, (Rebuilding.Rebuilt, *_ENDED)),
    # Resize (domain/resize.py): the scheduler, the source, the destination;
    # a revert goes back the other way.
    Route(
        "resize_schedule",
        Resizing.ResizeRequested,
        SCHEDULER,
        (Resizing.ResizeScheduled, Resizing.ResizeRefused, *_ENDED),
    ),
    Route("resize_migrate", Resizing.ResizeScheduled, COMPUTE, (Resizing.ResizeMigrated, *_ENDED)),
    Route(
        "resize_finish",
        Resizing.ResizeMigrated,
        COMPUTE,
        (Resizing.ResizeFinished, *_ENDED),
        host_field="dest_host",
    ),
    Route("revert_dest", Resizing.RevertRequested, COMPUTE, (Resizing.RevertDestCleaned, *_ENDED)),
    Route(
        "revert_source",
        Resizing.RevertDestCleaned,
        COMPUTE,
        (Resizing.ResizeReverted, *_ENDED),
        host_field="source_host",
    ),
    # The old disks go even if the instance is deleted meanwhile.
    Route(
        "drop_stash",
        Resizing.StashDropRequested,
        COMPUTE,
        (Resizing.StashDropped,),
        host_field="host",
    ),
    # A delete asked again owes a fresh delete job, which replaces the first.
    Route(
        "delete", Instance.DeleteRequested, COMPUTE, (Instance.DeleteRequested, Instance.Deleted)
    ),
)

PLACEMENTS: tuple[Placement, ...] = (
    Placement(Instance.Scheduled, "host", (Instance.Deleted,)),
    # A resize moves the guest to its destination, a revert back to its source.
    Placement(Resizing.ResizeFinished, "host", ()),
    Placement(Resizing.RevertDestCleaned, "source_host", ()),
    Placement(Resizing.ResizeReverted, "host", ()),
)


def event_types(routes: Iterable[Route] = ROUTES) -> tuple[type, ...]:
    """Every event the relay must follow, in a stable order."""
    seen: dict[type, None] = {}
    for route in routes:
        seen.setdefault(route.owed_by)
        for completion in route.completed_by:
            seen.setdefault(completion)
    for placement in PLACEMENTS:
        seen.setdefault(placement.set_by)
        for cleared in placement.cleared_by:
            seen.setdefault(cleared)
    return tuple(seen)


def needs_placement(event_type: type) -> bool:
    """Whether the relay must know the aggregate's host to route this event."""
    return any(r.family.per_host and not r.host_field for r in owed_by(event_type)) and not any(
        event_type is p.set_by for p in PLACEMENTS
    )


def owed_by(event_type: type) -> list[Route]:
    return [r for r in ROUTES if r.owed_by is event_type]


def kinds_completed_by(event_type: type) -> list[str]:
    return [r.kind for r in ROUTES if event_type in r.completed_by]


def route_of(kind: str) -> Route:
    return next(r for r in ROUTES if r.kind == kind)
