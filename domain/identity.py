"""Project and User aggregates: who exists and which roles they hold where.

Ids are random uuids; names are unique per domain through NameClaim. (The
first versions derived ids from names: such aggregates keep their ids.)"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.domains import DEFAULT_DOMAIN_ID
from domain.values import Actor


class Project(Aggregate):
    """A tenant: owns servers, images and a quota."""

    class Created(Aggregate.Created):
        name: str
        description: str
        domain_id: str
        tags: list[str]
        actor: Actor

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 knew only the default domain and had no tags."""
            state["domain_id"] = DEFAULT_DOMAIN_ID
            state["tags"] = []

    @event(Created)
    def __init__(
        self, name: str, description: str, domain_id: str, tags: list[str], actor: Actor
    ) -> None:
        self.name, self.description, self.domain_id = name, description, domain_id
        self.tags = list(tags)
        self.enabled = True
        self.deleted = False

    def update(
        self, name: str, description: str, enabled: bool, tags: list[str], actor: Actor
    ) -> None:
        now = (self.name, self.description, self.enabled, self.tags)
        if (name, description, enabled, list(tags)) != now:
            self._updated(name, description, enabled, list(tags), actor)

    class Updated(Aggregate.Event):
        name: str
        description: str
        enabled: bool
        tags: list[str]
        actor: Actor

    @event(Updated)
    def _updated(
        self, name: str, description: str, enabled: bool, tags: list[str], actor: Actor
    ) -> None:
        self.name, self.description, self.enabled = name, description, enabled
        self.tags = list(tags)

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True


class User(Aggregate):
    """A person or service; holds only a password hash, never the password."""

    class Created(Aggregate.Created):
        name: str
        password_hash: str
        default_project_id: str
        domain_id: str
        email: str
        description: str
        actor: Actor

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 knew only the default domain, with no email or description."""
            state.update(domain_id=DEFAULT_DOMAIN_ID, email="", description="")

    @event(Created)
    def __init__(
        self,
        name: str,
        password_hash: str,
        default_project_id: str,
        domain_id: str,
        email: str,
        description: str,
        actor: Actor,
    ) -> None:
        self.name, self.password_hash, self.domain_id = name, password_hash, domain_id
        self.default_project_id = default_project_id
        self.email, self.description = email, description
        self.enabled = True
        self.deleted = False
        self.roles: dict[str, list[str]] = {}  # project id -> role names
        self.domain_roles: dict[str, list[str]] = {}  # domain id -> role names

    def update(
        self,
        name: str,
        email: str,
        description: str,
        enabled: bool,
        default_project_id: str,
        actor: Actor,
    ) -> None:
        new = (name, email, description, enabled, default_project_id)
        now = (self.name, self.email, self.description, self.enabled, self.default_project_id)
        if new != now:
            self._updated(*new, actor)

    class Updated(Aggregate.Event):
        """Disabling a user (enabled false) also revokes their tokens."""

        name: str
        email: str
        description: str
        enabled: bool
        default_project_id: str
        actor: Actor

    @event(Updated)
    def _updated(
        self,
        name: str,
        email: str,
        description: str,
        enabled: bool,
        default_project_id: str,
        actor: Actor,
    ) -> None:
        self.name, self.email, self.description = name, email, description
        self.enabled, self.default_project_id = enabled, default_project_id

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True

    # Roles on projects ------------------------------------------------------

    def grant(self, project_id: str, role: str, actor: Actor) -> None:
        """The caller checked that the role exists; granting twice is a no-op."""
        if role not in self.roles.get(project_id, []):
            self._granted(project_id, role, actor)

    class RoleGranted(Aggregate.Event):
        project_id: str
        role: str
        actor: Actor

    @event(RoleGranted)
    def _granted(self, project_id: str, role: str, actor: Actor) -> None:
        self.roles.setdefault(project_id, []).append(role)

    def revoke(self, project_id: str, role: str, actor: Actor) -> bool:
        """False if the user did not hold the role there (nothing appended)."""
        if role not in self.roles.get(project_id, []):
            return False
        self._revoked(project_id, role, actor)
        return True

    class RoleRevoked(Aggregate.Event):
        """Also revokes the user's tokens on that project."""

        project_id: str
        role: str
        actor: Actor

    @event(RoleRevoked)
    def _revoked(self, project_id: str, role: str, actor: Actor) -> None:
        self.roles[project_id].remove(role)
        if not self.roles[project_id]:
            del self.roles[project_id]

    def roles_on(self, project_id: str) -> tuple[str, ...]:
        return tuple(self.roles.get(project_id, ()))

    # Roles on domains -------------------------------------------------------

    def grant_on_domain(self, domain_id: str, role: str, actor: Actor) -> None:
        if role not in self.domain_roles.get(domain_id, []):
            self._domain_granted(domain_id, role, actor)

    class DomainRoleGranted(Aggregate.Event):
        domain_id: str
        role: str
        actor: Actor

    @event(DomainRoleGranted)
    def _domain_granted(self, domain_id: str, role: str, actor: Actor) -> None:
        self.domain_roles.setdefault(domain_id, []).append(role)

    def revoke_on_domain(self, domain_id: str, role: str, actor: Actor) -> bool:
        if role not in self.domain_roles.get(domain_id, []):
            return False
        self._domain_revoked(domain_id, role, actor)
        return True

    class DomainRoleRevoked(Aggregate.Event):
        domain_id: str
        role: str
        actor: Actor

    @event(DomainRoleRevoked)
    def _domain_revoked(self, domain_id: str, role: str, actor: Actor) -> None:
        self.domain_roles[domain_id].remove(role)
        if not self.domain_roles[domain_id]:
            del self.domain_roles[domain_id]

    def roles_on_domain(self, domain_id: str) -> tuple[str, ...]:
        return tuple(self.domain_roles.get(domain_id, ()))

    # Credentials ------------------------------------------------------------

    def change_password(self, password_hash: str, actor: Actor) -> None:
        """The caller checked the original password; only the new hash is kept."""
        self._password_changed(password_hash, actor)

    class PasswordChanged(Aggregate.Event):
        """Also revokes the user's tokens, as Keystone does."""

        password_hash: str
        actor: Actor

    @event(PasswordChanged)
    def _password_changed(self, password_hash: str, actor: Actor) -> None:
        self.password_hash = password_hash

    def revoke_token(self, audit_id: str, expires_at: float, actor: Actor) -> None:
        """One token of this user stops working (``DELETE /v3/auth/tokens``).
        The token's audit id is stored, never the token."""
        self._token_revoked(audit_id, expires_at, actor)

    class TokenRevoked(Aggregate.Event):
        audit_id: str
        expires_at: float
        actor: Actor

    @event(TokenRevoked)
    def _token_revoked(self, audit_id: str, expires_at: float, actor: Actor) -> None:
        """Nothing to remember on the user: the revocation list holds it."""
