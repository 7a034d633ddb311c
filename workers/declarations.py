"""The words a resource declares its worker side in (workers/resources/).

A resource says which of its events owe which job, on which queue family,
and which later events complete it (a ``Route``); where its aggregates live
(a ``Placement``); which worker roles serve its queues and build their
contexts (a ``Role``); and which of its aggregates wait on another's events
(a ``Link``, read through ``Via``). Jobs and role builders are named by
``module:function`` text, as RQ names its jobs: the relay reads these
declarations without importing job or driver code, and no resource module
imports the jobs that import it back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QueueFamily:
    """Queues of one kind of worker: one queue, or one per host. Work that
    can wait says how long (``gather_s``): the relay then sends its queue at
    most one batch per that time (workers/coalesce.py)."""

    name: str
    per_host: bool = False
    gather_s: float = 0.0

    def queue(self, host: str | None = None) -> str:
        if self.per_host:
            if not host:
                raise ValueError(f"the {self.name} queues are per host: name the host")
            return f"{self.name}.{host}"
        return self.name

    def family_of(self, queue: str) -> bool:
        return queue == self.name or queue.startswith(f"{self.name}.")


@dataclass(frozen=True)
class Link:
    """An aggregate waits on another's events: ``made_by`` (an event of the
    waiting aggregate, or any of several) names the other's id in its
    ``field`` (or a list of ids: it waits on each), and the wait lasts
    until one of ``dropped_by`` (events of the waiting aggregate). The relay
    keeps the link in its own table, in the transaction of the event that
    made it, so a restart forgets none."""

    name: str
    made_by: type | tuple[type, ...]
    field: str
    dropped_by: tuple[type, ...]

    @property
    def made_by_events(self) -> tuple[type, ...]:
        return self.made_by if isinstance(self.made_by, tuple) else (self.made_by,)


@dataclass(frozen=True)
class Via:
    """``event`` of an aggregate some ``link`` waits on, as it reaches each
    aggregate waiting on it: it can complete their jobs, or owe them one."""

    link: Link
    event: type


Trigger = type | Via  # an event of the aggregate itself, or of one it waits on


@dataclass(frozen=True)
class Route:
    """``owed_by`` owes a ``kind`` job on ``family``'s queue until one of
    ``completed_by`` comes; ``job`` (``module:function``) does it. A route
    that no event completes (``completed_by`` empty: the work leaves no
    record of its own, as a filter refreshed) is done once a batch that
    carried it has run to the end without failing. For a
    per-host family the queue is that of the aggregate's host, or of the
    host the event names in ``host_field`` (a resize works on two hosts);
    an event that names none owes nothing. Kinds are named by resource
    (``instance.spawn``), so two resources never share one. With
    ``once_per_host``, a ``Via`` event owes one item per host of the
    aggregates waiting on it (naming the event's own aggregate), not one per
    waiting aggregate: for a job that needs to know only that it changed.
    An event of ``cancelled_by`` that follows the owing one in the same relay
    batch (one save made both) means the work was done in that save: the
    item is never owed. Coming in a later batch it changes nothing, and the
    job finds the work done."""

    kind: str
    owed_by: Trigger
    family: QueueFamily
    completed_by: tuple[Trigger, ...]
    job: str
    host_field: str = ""
    once_per_host: bool = False
    cancelled_by: tuple[type, ...] = ()


@dataclass(frozen=True)
class Placement:
    """``set_by`` (its ``field``) says where an aggregate lives; ``cleared_by`` forgets it."""

    set_by: type
    field: str
    cleared_by: tuple[type, ...]


@dataclass(frozen=True)
class Role:
    """A kind of worker process: it serves ``family``'s queue (one per host
    for a per-host family) with the context ``build`` (``module:function``,
    called with the settings, the host and the environment) returns. The
    context's type is what ``build`` is annotated to return; every job
    routed to the family must accept it.

    With ``joins``, the role's queue is served by the process of the role
    of that family on the same host: one process takes both queues' jobs,
    one at a time, each with its own role's context."""

    family: QueueFamily
    build: str
    joins: QueueFamily | None = None

    @property
    def name(self) -> str:
        return self.family.name

    @property
    def per_host(self) -> bool:
        return self.family.per_host


@dataclass(frozen=True)
class WorkerResource:
    """One resource's worker side. ``renamed`` maps job kinds it stored
    before they were named by resource to their names now: the relay's
    table and Redis may still hold them after an upgrade."""

    name: str
    families: tuple[QueueFamily, ...] = ()
    roles: tuple[Role, ...] = ()
    routes: tuple[Route, ...] = ()
    placements: tuple[Placement, ...] = ()
    links: tuple[Link, ...] = ()
    renamed: Mapping[str, str] = field(default_factory=dict)
