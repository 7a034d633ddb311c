"""Projects, users, role grants and password authentication."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from commands.app import CloudApp
from commands.loading import load, parse_uuid
from commands.ports import PasswordHasher
from commands.receipt import Receipt
from domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from domain.identity import ROLES, Project, User
from domain.quota import DEFAULT_LIMITS, Quota
from domain.values import Actor, require_text


@dataclass(frozen=True)
class CreateProject:
    name: str
    description: str = ""


@dataclass(frozen=True)
class CreateUser:
    """A user with roles on the project named (the seed's way), or with a
    default project by id and no roles yet (Keystone's POST /v3/users)."""

    name: str
    password: str
    project_name: str = ""
    roles: tuple[str, ...] = ("member",)
    default_project_id: str = ""


@dataclass(frozen=True)
class GrantRole:
    user_id: str
    project_id: str
    role: str


@dataclass(frozen=True)
class Authenticated:
    """A successful password check, scoped to one project."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]


def create_project(cmd: CreateProject, app: CloudApp, actor: Actor) -> Receipt:
    """A project and its quota are born together."""
    require_text(cmd.name, "Project name", max_length=64)
    if Project.create_id(cmd.name) in app.repository:
        raise Conflict(f"Project {cmd.name} already exists")
    project = Project(name=cmd.name, description=cmd.description, actor=actor)
    quota = Quota(project_id=project.id.hex, limits=DEFAULT_LIMITS, actor=actor)
    return Receipt.of(project.id, app.save(project, quota))


def create_user(cmd: CreateUser, app: CloudApp, hasher: PasswordHasher, actor: Actor) -> Receipt:
    require_text(cmd.name, "User name")
    if len(cmd.password) < 1:
        raise InvalidInput("Password must not be empty")
    if User.create_id(cmd.name) in app.repository:
        raise Conflict(f"User {cmd.name} already exists")
    if cmd.project_name:
        project: Project | None = load(app, Project, Project.create_id(cmd.project_name), "Project")
    elif cmd.default_project_id:
        project = _project_by_id(app, cmd.default_project_id)
    else:
        project = None
    user = User(
        name=cmd.name,
        password_hash=hasher.hash(cmd.password),
        default_project_id=project.id.hex if project else "",
        actor=actor,
    )
    if project is not None and cmd.project_name:
        for role in cmd.roles:
            user.grant(project.id.hex, role, actor)
    return Receipt.of(user.id, app.save(user))


@dataclass(frozen=True)
class ChangePassword:
    user_id: str
    original_password: str
    password: str


def change_password(
    cmd: ChangePassword, app: CloudApp, hasher: PasswordHasher, actor: Actor
) -> Receipt:
    """A user sets a new password, proving the original one (401 if wrong)."""
    if not cmd.password:
        raise InvalidInput("The new password must not be empty")
    user = load(app, User, parse_uuid(cmd.user_id, "User"), f"User {cmd.user_id}")
    if not hasher.verify(user.password_hash, cmd.original_password):
        raise Unauthorized("The original password is not correct.")
    user.change_password(hasher.hash(cmd.password), actor)
    return Receipt.of(user.id, app.save(user))


def grant_role(cmd: GrantRole, app: CloudApp, actor: Actor) -> Receipt:
    """Give a user a role on a project; granting a role held already appends nothing."""
    if cmd.role not in ROLES:
        raise NotFound(f"Could not find role: {cmd.role}.")
    project = _project_by_id(app, cmd.project_id)
    user = load(app, User, parse_uuid(cmd.user_id, "User"), f"User {cmd.user_id}")
    user.grant(project.id.hex, cmd.role, actor)
    return Receipt.of(user.id, app.save(user))


def _project_by_id(app: CloudApp, project_id: str) -> Project:
    return load(app, Project, parse_uuid(project_id, "Project"), f"Project {project_id}")


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


def authenticate(
    app: CloudApp,
    hasher: PasswordHasher,
    user_name: str,
    password: str,
    project_name: str,
) -> Authenticated:
    """Check a password and the user's roles on the project; one vague error
    for every failure so callers cannot probe which names exist."""
    denied = Unauthorized("The request you have made requires authentication.")
    try:
        user = load(app, User, User.create_id(user_name), "User")
        project = load(app, Project, Project.create_id(project_name), "Project")
    except NotFound:
        # Spend the same hashing time as a real check, so response times do
        # not reveal which user names exist.
        hasher.verify(_DUMMY_HASH.get(hasher), password)
        raise denied from None
    if not user.enabled or not hasher.verify(user.password_hash, password):
        raise denied
    roles = user.roles_on(project.id.hex)
    if not roles or not project.enabled:
        raise denied
    return Authenticated(user.id.hex, user.name, project.id.hex, project.name, roles)
