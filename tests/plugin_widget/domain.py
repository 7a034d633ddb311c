"""The Widget: requested (in a project), then polished by a worker of its own role."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event

from domain.declarations import AuditType, DomainResource
from domain.errors import InvalidTransition


@dataclass(frozen=True)
class Finish:
    """A value object its events carry: stored through a transcoding its
    command side declares."""

    kind: str
    coats: int


class Widget(Aggregate):
    class Requested(Aggregate.Created):
        project_id: str
        name: str
        finish: Finish

    @event(Requested)
    def __init__(self, project_id: str, name: str, finish: Finish) -> None:
        self.project_id, self.name, self.finish = project_id, name, finish
        self.state = "requested"

    def polish(self) -> None:
        if self.state != "requested":
            raise InvalidTransition(f"widget {self.id}", self.state, "polish")
        self._polished()

    class Polished(Aggregate.Event):
        pass

    @event(Polished)
    def _polished(self) -> None:
        self.state = "polished"


RESOURCE = DomainResource(
    "widget",
    aggregates=(Widget,),
    audit=(AuditType("widget", "data/widget", aggregates=("Widget",), paths=("widgets",)),),
    quota={"widgets": 5},
)
