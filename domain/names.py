"""NameClaim: who holds a name that must be unique in its scope.

A project's or user's name is unique in its domain, a domain's name in the
cloud. Ids are random (a name can be freed and taken again by a new
project), so uniqueness lives here: the claim is saved with the creation,
rename or deletion of its holder, and two racing creations of one name
conflict on the claim's version, never both succeed."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict
from domain.values import Actor, natural_id


class NameClaim(Aggregate):
    class Created(Aggregate.Created):
        kind: str  # "project", "user", "domain", ...
        scope: str  # the domain id, or "" for names unique in the cloud
        name: str
        holder_id: str
        actor: Actor

    @staticmethod
    def create_id(kind: str, scope: str, name: str, **_: object) -> UUID:
        return natural_id(f"{kind}-name", f"{scope}/{name}")

    @event(Created)
    def __init__(self, kind: str, scope: str, name: str, holder_id: str, actor: Actor) -> None:
        self.kind, self.scope, self.name = kind, scope, name
        self.holder_id = holder_id  # "" while free

    def take(self, holder_id: str, what: str, actor: Actor) -> None:
        if self.holder_id and self.holder_id != holder_id:
            raise Conflict(f"{what} {self.name} already exists")
        if self.holder_id != holder_id:
            self._taken(holder_id, actor)

    class Taken(Aggregate.Event):
        holder_id: str
        actor: Actor

    @event(Taken)
    def _taken(self, holder_id: str, actor: Actor) -> None:
        self.holder_id = holder_id

    def release(self, holder_id: str, actor: Actor) -> None:
        if self.holder_id == holder_id:
            self._released(actor)

    class Released(Aggregate.Event):
        actor: Actor

    @event(Released)
    def _released(self, actor: Actor) -> None:
        self.holder_id = ""
