"""Domain and Role aggregates: Keystone's containers of projects and users,
and the role names that assignments may use."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Forbidden
from domain.values import Actor, natural_id

DEFAULT_DOMAIN_ID = "default"  # Keystone's id for the domain every cloud has
BUILT_IN_ROLES = ("admin", "member", "reader", "service")


class Domain(Aggregate):
    """Its public id is Keystone's: "default" for the seeded one, else a hex uuid."""

    class Created(Aggregate.Created):
        domain_id: str
        name: str
        description: str
        actor: Actor

    @staticmethod
    def create_id(domain_id: str, **_: object) -> UUID:
        return natural_id("domain", domain_id)

    @event(Created)
    def __init__(self, domain_id: str, name: str, description: str, actor: Actor) -> None:
        self.domain_id, self.name, self.description = domain_id, name, description
        self.enabled = True
        self.deleted = False

    def update(self, name: str, description: str, enabled: bool, actor: Actor) -> None:
        if (name, description, enabled) != (self.name, self.description, self.enabled):
            self._updated(self.domain_id, name, description, enabled, actor)

    class Updated(Aggregate.Event):
        domain_id: str  # the public id, for readers of the event alone
        name: str
        description: str
        enabled: bool
        actor: Actor

    @event(Updated)
    def _updated(
        self, domain_id: str, name: str, description: str, enabled: bool, actor: Actor
    ) -> None:
        self.name, self.description, self.enabled = name, description, enabled

    def delete(self, actor: Actor) -> None:
        """Keystone's rule: a domain is disabled before it can be deleted."""
        if self.domain_id == DEFAULT_DOMAIN_ID:
            raise Forbidden("The default domain cannot be deleted.")
        if self.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        self._deleted(self.domain_id, actor)

    class Deleted(Aggregate.Event):
        domain_id: str
        actor: Actor

    @event(Deleted)
    def _deleted(self, domain_id: str, actor: Actor) -> None:
        self.deleted = True


class Role(Aggregate):
    """A role an admin created; its name is its id, as for the built-in ones."""

    class Created(Aggregate.Created):
        name: str
        description: str
        actor: Actor

    @staticmethod
    def create_id(name: str, **_: object) -> UUID:
        return natural_id("role", name)

    @event(Created)
    def __init__(self, name: str, description: str, actor: Actor) -> None:
        self.name, self.description = name, description
