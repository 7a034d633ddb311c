"""Project and User aggregates: who exists and which roles they hold where."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.values import Actor, natural_id

ROLES = ("admin", "member", "reader")


class Project(Aggregate):
    """A tenant: owns servers, images and a quota."""

    class Created(Aggregate.Created):
        name: str
        description: str
        actor: Actor

    @staticmethod
    def create_id(name: str, **_: object) -> UUID:
        return natural_id("project", name)

    @event(Created)
    def __init__(self, name: str, description: str, actor: Actor) -> None:
        self.name, self.description = name, description
        self.enabled = True


class User(Aggregate):
    """A person or service; holds only a password hash, never the password."""

    class Created(Aggregate.Created):
        name: str
        password_hash: str
        default_project_id: str
        actor: Actor

    @staticmethod
    def create_id(name: str, **_: object) -> UUID:
        return natural_id("user", name)

    @event(Created)
    def __init__(
        self, name: str, password_hash: str, default_project_id: str, actor: Actor
    ) -> None:
        self.name = name
        self.password_hash = password_hash
        self.default_project_id = default_project_id
        self.enabled = True
        self.roles: dict[str, list[str]] = {}  # project id -> role names

    def grant(self, project_id: str, role: str, actor: Actor) -> None:
        if role not in ROLES:
            raise InvalidInput(f"Unknown role '{role}'")
        if role not in self.roles.get(project_id, []):
            self._granted(project_id, role, actor)

    class RoleGranted(Aggregate.Event):
        project_id: str
        role: str
        actor: Actor

    @event(RoleGranted)
    def _granted(self, project_id: str, role: str, actor: Actor) -> None:
        self.roles.setdefault(project_id, []).append(role)

    def change_password(self, password_hash: str, actor: Actor) -> None:
        """The caller checked the original password; only the new hash is kept."""
        self._password_changed(password_hash, actor)

    class PasswordChanged(Aggregate.Event):
        password_hash: str
        actor: Actor

    @event(PasswordChanged)
    def _password_changed(self, password_hash: str, actor: Actor) -> None:
        self.password_hash = password_hash

    def roles_on(self, project_id: str) -> tuple[str, ...]:
        return tuple(self.roles.get(project_id, ()))
