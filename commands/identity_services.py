"""The identity commands of Services: each retried on a concurrent write."""

from __future__ import annotations

from collections.abc import Callable

from eventsourcing.persistence import IntegrityError

from commands import domains, identity
from commands.app import CloudApp
from commands.authentication import (
    Authenticated,
    Login,
    check_login,
    find_user,
    lockout_key,
)
from commands.lockout import Lockout
from commands.ports import PasswordHasher
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Conflict
from domain.values import Actor


def creating(what: str, create: Callable[[], Receipt]) -> Receipt:
    """A create that lost a race with an identical create is a Conflict."""
    try:
        return create()
    except IntegrityError:
        raise Conflict(f"{what} already exists") from None


class IdentityCommands:
    app: CloudApp
    hasher: PasswordHasher
    lockout: Lockout

    def login(self, login: Login, request_id: str = "") -> Authenticated:
        """A password login, refused while the user it names is locked out
        (by whichever identifier the failures named it)."""
        user = find_user(self.app, login)
        return self.lockout.authenticate(
            lockout_key(login, user),
            request_id,
            lambda: check_login(self.app, self.hasher, login, user),
        )

    def authenticate(
        self, user: str, password: str, project: str, request_id: str = ""
    ) -> Authenticated:
        """A login by user name and project name, both in the default domain."""
        return self.login(Login(password, user_name=user, project_name=project), request_id)

    def create_domain(self, cmd: domains.CreateDomain, actor: Actor) -> Receipt:
        return creating(f"Domain {cmd.name}", lambda: domains.create_domain(cmd, self.app, actor))

    def update_domain(self, cmd: domains.UpdateDomain, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: domains.update_domain(cmd, self.app, actor))

    def delete_domain(self, domain_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: domains.delete_domain(domain_id, self.app, actor))

    def create_project(self, cmd: identity.CreateProject, actor: Actor) -> Receipt:
        return creating(
            f"Project {cmd.name}", lambda: identity.create_project(cmd, self.app, actor)
        )

    def update_project(self, cmd: identity.UpdateProject, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: identity.update_project(cmd, self.app, actor))

    def delete_project(self, project_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: identity.delete_project(project_id, self.app, actor))

    def create_user(self, cmd: identity.CreateUser, actor: Actor) -> Receipt:
        return creating(
            f"User {cmd.name}",
            lambda: identity.create_user(cmd, self.app, self.hasher, actor),
        )

    def update_user(self, cmd: identity.UpdateUser, actor: Actor) -> Receipt:
        receipt = retry_on_conflict(lambda: identity.update_user(cmd, self.app, self.hasher, actor))
        if cmd.enabled:  # an admin re-enabling a user also ends a lockout
            user = identity.load_user(self.app, cmd.user_id)
            key = lockout_key(Login("", user_id=user.id.hex), user)
            self.lockout.attempts.record(key, True, actor.request_id)
        return receipt

    def delete_user(self, user_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: identity.delete_user(user_id, self.app, actor))

    def change_password(self, cmd: identity.ChangePassword, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: identity.change_password(cmd, self.app, self.hasher, actor)
        )

    def revoke_token(self, cmd: identity.RevokeToken, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: identity.revoke_token(cmd, self.app, actor))

    def create_role(self, cmd: identity.CreateRole, actor: Actor) -> Receipt:
        return creating(f"Role {cmd.name}", lambda: identity.create_role(cmd, self.app, actor))

    def grant_role(self, cmd: identity.GrantRole, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: identity.grant_role(cmd, self.app, actor))

    def revoke_role(self, cmd: identity.GrantRole, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: identity.revoke_role(cmd, self.app, actor))
