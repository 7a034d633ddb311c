"""What each event means to the pipeline, derived from the resources'
declarations (workers/resources/, workers/declarations.py): the queue
families, the routes, the placements, the links between aggregates and the
worker roles. The relay, its reconcile, the job entry point and
`cloudledger run` read only these, so a new resource adds its own module
and nothing here changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from domain.discovery import declarations
from workers.declarations import (
    Link,
    Placement,
    QueueFamily,
    Role,
    Route,
    Trigger,
    Via,
    WorkerResource,
)

__all__ = ["Link", "Placement", "QueueFamily", "Role", "Route", "Via", "WorkerResource"]


def _event_of(trigger: Trigger) -> type:
    return trigger.event if isinstance(trigger, Via) else trigger


@dataclass(frozen=True)
class EventPlan:
    """What one type of event does in the relay, worked out once."""

    completes: tuple[str, ...]  # kinds of its own aggregate's jobs it completes
    cancels: tuple[str, ...]  # kinds of its own aggregate's jobs owed in its batch it cancels
    completes_via: tuple[tuple[Link, str], ...]  # (link, kind) of waiting aggregates' jobs
    owes: tuple[Route, ...]  # jobs it owes its own aggregate
    owes_via: tuple[Route, ...]  # jobs it owes each aggregate waiting on it
    places: tuple[Placement, ...]  # placements it sets
    clears: bool  # whether it forgets its aggregate's placement
    makes: tuple[Link, ...]  # links its aggregate starts waiting through
    drops: tuple[Link, ...]  # links its aggregate stops waiting through
    needs_placement: bool  # its own jobs go to its aggregate's host
    needs_target_placement: bool  # its jobs for waiting aggregates go to their hosts
    reaches: tuple[Link, ...]  # links whose waiting aggregates it reaches


def _name(link: Link) -> str:
    return link.name


@dataclass(frozen=True)
class Routing:
    """The routes, placements, links and roles of a set of resources."""

    resources: tuple[WorkerResource, ...]
    _plans: dict[type, EventPlan] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def families(self) -> tuple[QueueFamily, ...]:
        return tuple(f for r in self.resources for f in r.families)

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for r in self.resources for route in r.routes)

    @cached_property
    def placements(self) -> tuple[Placement, ...]:
        return tuple(p for r in self.resources for p in r.placements)

    @cached_property
    def links(self) -> tuple[Link, ...]:
        return tuple(link for r in self.resources for link in r.links)

    @cached_property
    def roles(self) -> tuple[Role, ...]:
        return tuple(role for r in self.resources for role in r.roles)

    @cached_property
    def renamed(self) -> dict[str, str]:
        """Job kinds stored under an older name, to their names now."""
        return {old: new for r in self.resources for old, new in r.renamed.items()}

    def event_types(self) -> tuple[type, ...]:
        """Every event the relay must follow, in a stable order."""
        seen: dict[type, None] = {}
        for route in self.routes:
            seen.setdefault(_event_of(route.owed_by))
            for completion in (*route.completed_by, *route.cancelled_by):
                seen.setdefault(_event_of(completion))
        for placement in self.placements:
            seen.setdefault(placement.set_by)
            for cleared in placement.cleared_by:
                seen.setdefault(cleared)
        for link in self.links:
            for made_by in link.made_by_events:
                seen.setdefault(made_by)
            for dropped in link.dropped_by:
                seen.setdefault(dropped)
        return tuple(seen)

    def plan(self, event_type: type) -> EventPlan:
        found = self._plans.get(event_type)
        if found is None:
            found = self._plans[event_type] = self._plan(event_type)
        return found

    def _plan(self, event_type: type) -> EventPlan:
        owes = tuple(r for r in self.routes if r.owed_by is event_type)
        owes_via = tuple(
            r for r in self.routes if isinstance(r.owed_by, Via) and r.owed_by.event is event_type
        )
        places = tuple(p for p in self.placements if p.set_by is event_type)
        completes_via = tuple(
            (c.link, r.kind)
            for r in self.routes
            for c in r.completed_by
            if isinstance(c, Via) and c.event is event_type
        )
        reached = {r.owed_by.link for r in owes_via if isinstance(r.owed_by, Via)}
        return EventPlan(
            completes=tuple(r.kind for r in self.routes if event_type in r.completed_by),
            cancels=tuple(r.kind for r in self.routes if event_type in r.cancelled_by),
            completes_via=completes_via,
            owes=owes,
            owes_via=owes_via,
            places=places,
            clears=any(event_type in p.cleared_by for p in self.placements),
            makes=tuple(link for link in self.links if event_type in link.made_by_events),
            drops=tuple(link for link in self.links if event_type in link.dropped_by),
            needs_placement=not places
            and any(r.family.per_host and not r.host_field for r in owes),
            needs_target_placement=any(r.family.per_host and not r.host_field for r in owes_via),
            reaches=tuple(sorted(reached | {link for link, _ in completes_via}, key=_name)),
        )

    @cached_property
    def done_when_run(self) -> tuple[str, ...]:
        """Kinds no event completes: done once a batch carrying them ran."""
        return tuple(r.kind for r in self.routes if not r.completed_by)

    def route_of(self, kind: str) -> Route:
        """The route of a kind, by its name now or the one it was stored under."""
        return next(r for r in self.routes if r.kind == self.renamed.get(kind, kind))

    def gather_s(self, queue: str) -> float:
        """How long a queue's items may wait to go out together (its family's)."""
        return next((f.gather_s for f in self.families if f.family_of(queue)), 0.0)

    def role(self, name: str) -> Role:
        return next(r for r in self.roles if r.name == name)

    def family(self, name: str) -> QueueFamily:
        return next(f for f in self.families if f.name == name)


ROUTING = Routing(declarations("workers", WorkerResource))

FAMILIES = ROUTING.families
ROUTES = ROUTING.routes
PLACEMENTS = ROUTING.placements
ROLES = ROUTING.roles
# The Instance's queues, which ops tools and tests name (workers/resources/instance.py).
SCHEDULER = ROUTING.family("scheduler")
COMPUTE = ROUTING.family("compute")


def event_types() -> tuple[type, ...]:
    return ROUTING.event_types()


def needs_placement(event_type: type) -> bool:
    return ROUTING.plan(event_type).needs_placement


def owed_by(event_type: type) -> list[Route]:
    return list(ROUTING.plan(event_type).owes)


def kinds_completed_by(event_type: type) -> list[str]:
    return list(ROUTING.plan(event_type).completes)


def route_of(kind: str) -> Route:
    return ROUTING.route_of(kind)
