"""Password authentication and the scope a token is issued for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from commands.app import CloudApp
from commands.domains import domain_enabled, domain_id_named, load_domain
from commands.identity import (
    load_project,
    load_user,
    project_named,
)
from commands.names import holder_of
from commands.ports import PasswordHasher
from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import NotFound, Unauthorized
from domain.identity import Project, User


@dataclass(frozen=True)
class Login:
    """Who logs in, by user id or by name in a domain (by id or by name),
    and what the token is for: a project (by id, or name in a domain), a
    domain, the whole cloud (the system), or nothing in particular (the
    default project, if any)."""

    password: str
    user_id: str = ""
    user_name: str = ""
    user_domain_id: str = ""
    user_domain_name: str = ""
    project_id: str = ""
    project_name: str = ""
    project_domain_id: str = ""
    project_domain_name: str = ""
    domain_id: str = ""
    domain_name: str = ""
    unscoped: bool = False  # Keystone's "scope": "unscoped": not even the default project
    system: bool = False  # Keystone's "scope": {"system": {"all": true}}


@dataclass(frozen=True)
class Authenticated:
    """A successful password check and the scope granted: a project, a
    domain, the system, or none (an unscoped token, with no roles). A
    system scope keeps the admin project it takes its roles from in the
    project fields, so that what revokes those roles revokes it too."""

    user_id: str
    user_name: str
    user_domain_id: str
    user_domain_name: str
    project_id: str = ""
    project_name: str = ""
    project_domain_id: str = ""
    project_domain_name: str = ""
    domain_id: str = ""  # set for a domain-scoped token
    domain_name: str = ""
    system_scope: str = ""  # "all" for a system-scoped token
    is_admin_project: bool = False  # the project is the cloud's admin project
    roles: tuple[str, ...] = ()


class _DummyHash:
    """A hash of a random password per hasher, made on first use."""

    def __init__(self) -> None:
        self._by_hasher: dict[int, str] = {}

    def get(self, hasher: PasswordHasher) -> str:
        key = id(hasher)
        if key not in self._by_hasher:
            self._by_hasher[key] = hasher.hash(secrets.token_hex(16))
        return self._by_hasher[key]


_DUMMY_HASH = _DummyHash()
DENIED = "The request you have made requires authentication."

# The cloud's admin project (Keystone's [resource] admin_project_name and
# admin_project_domain_name): the seeded one. The admin role on it, or on
# the system, is the cloud's admin; on any other project or on a domain it
# holds only there (api/policy.py, docs/identity-scope.md).
ADMIN_PROJECT_NAME = "admin"
ADMIN_PROJECT_DOMAIN_ID = DEFAULT_DOMAIN_ID


def is_admin_project(project: Project) -> bool:
    return project.name == ADMIN_PROJECT_NAME and project.domain_id == ADMIN_PROJECT_DOMAIN_ID


def find_user(app: CloudApp, login: Login) -> User | None:
    """The user a login names, by id or by name in a domain; None if none."""
    try:
        return _user(app, login)
    except NotFound:
        return None


def lockout_key(login: Login, user: User | None) -> str:
    """What failed logins count against: the user, however the login names
    it (by id, or by name in a domain named by id or by name), so no
    identifier gets guesses of its own; a login naming no one counts
    against the identifier it gave, so a lockout tells nothing either."""
    if user is not None:
        return f"user:{user.id.hex}"
    if login.user_id:
        return f"unknown-id:{login.user_id}"
    domain = login.user_domain_id or f"name:{login.user_domain_name or 'Default'}"
    return f"unknown-name:{domain}/{login.user_name}"


def authenticate(app: CloudApp, hasher: PasswordHasher, login: Login) -> Authenticated:
    return check_login(app, hasher, login, find_user(app, login))


def check_login(
    app: CloudApp, hasher: PasswordHasher, login: Login, user: User | None
) -> Authenticated:
    """Check the password of the ``user`` the login names (``find_user``),
    then the user's roles on the scope asked for; one vague error for every
    failure, so callers cannot probe which names exist."""
    if user is None:
        # Spend the same hashing time as a real check, so response times do
        # not reveal which user names exist.
        hasher.verify(_DUMMY_HASH.get(hasher), login.password)
        raise Unauthorized(DENIED)
    if not hasher.verify(user.password_hash, login.password):
        raise Unauthorized(DENIED)
    if not user.enabled or not domain_enabled(app, user.domain_id):
        raise Unauthorized(DENIED)
    who = Authenticated(user.id.hex, user.name, user.domain_id, _domain_name(app, user.domain_id))
    try:
        return _scoped(app, user, login, who)
    except NotFound:
        raise Unauthorized(DENIED) from None


def _user(app: CloudApp, login: Login) -> User:
    if login.user_id:
        return load_user(app, login.user_id)
    domain_id = login.user_domain_id or (
        domain_id_named(app, login.user_domain_name)
        if login.user_domain_name
        else DEFAULT_DOMAIN_ID
    )
    holder = holder_of(app, "user", domain_id, login.user_name)
    if holder is None:
        raise NotFound("no such user")
    return load_user(app, holder.hex)


def _scoped(app: CloudApp, user: User, login: Login, who: Authenticated) -> Authenticated:
    if login.system:
        admin = project_named(app, ADMIN_PROJECT_NAME, ADMIN_PROJECT_DOMAIN_ID)
        scoped = _on_project(app, user, admin, who, strict=True)
        return _with(scoped, system_scope="all", is_admin_project=False)
    if login.domain_id or login.domain_name:
        domain_id = login.domain_id or domain_id_named(app, login.domain_name)
        domain = load_domain(app, domain_id, create_default=True)
        roles = user.roles_on_domain(domain.domain_id)
        if not roles or not domain.enabled:
            raise Unauthorized(DENIED)
        return _with(who, domain_id=domain.domain_id, domain_name=domain.name, roles=roles)
    if login.project_id or login.project_name:
        return _on_project(app, user, _project(app, login), who, strict=True)
    if user.default_project_id and not login.unscoped:
        try:  # Keystone: an unscoped request gets the default project if it can
            project = load_project(app, user.default_project_id)
        except NotFound:
            return who
        return _on_project(app, user, project, who, strict=False)
    return who


def _project(app: CloudApp, login: Login) -> Project:
    if login.project_id:
        return load_project(app, login.project_id)
    domain_id = login.project_domain_id or (
        domain_id_named(app, login.project_domain_name)
        if login.project_domain_name
        else DEFAULT_DOMAIN_ID
    )
    return project_named(app, login.project_name, domain_id)


def _on_project(
    app: CloudApp, user: User, project: Project, who: Authenticated, strict: bool
) -> Authenticated:
    roles = user.roles_on(project.id.hex)
    usable = bool(roles) and project.enabled and domain_enabled(app, project.domain_id)
    if not usable:
        if strict:
            raise Unauthorized(DENIED)
        return who
    return _with(
        who,
        project_id=project.id.hex,
        project_name=project.name,
        project_domain_id=project.domain_id,
        project_domain_name=_domain_name(app, project.domain_id),
        is_admin_project=is_admin_project(project),
        roles=roles,
    )


def _with(who: Authenticated, **scope: object) -> Authenticated:
    return replace(who, **scope)  # type: ignore[arg-type]


def _domain_name(app: CloudApp, domain_id: str) -> str:
    return load_domain(app, domain_id, create_default=True).name
