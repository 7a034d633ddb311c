"""Projects, users and roles: create, update, delete, grant, revoke
(domains are in commands/domains.py)."""

from __future__ import annotations

from dataclasses import dataclass

from commands.app import CloudApp
from commands.domains import (
    MAX_NAME,
    load_domain,
    require_description,
    usable_domain,
)
from commands.loading import load, parse_uuid
from commands.names import claim_of, holder_of, renamed, take
from commands.ports import PasswordHasher
from commands.receipt import Receipt
from domain.domains import BUILT_IN_ROLES, DEFAULT_DOMAIN_ID, Role
from domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from domain.identity import Project, User
from domain.quota import DEFAULT_LIMITS, Quota
from domain.values import Actor, require_text

MAX_TAGS = 80  # Keystone's limit on a project's tags


# Projects -------------------------------------------------------------------


@dataclass(frozen=True)
class CreateProject:
    name: str
    description: str = ""
    domain_id: str = DEFAULT_DOMAIN_ID
    tags: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class UpdateProject:
    project_id: str
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    tags: tuple[str, ...] | None = None


def create_project(cmd: CreateProject, app: CloudApp, actor: Actor) -> Receipt:
    """A project and its quota are born together."""
    require_text(cmd.name, "Project name", MAX_NAME)
    require_description(cmd.description)
    _require_tags(cmd.tags)
    usable_domain(app, cmd.domain_id)
    project = Project(
        name=cmd.name,
        description=cmd.description,
        domain_id=cmd.domain_id,
        tags=list(cmd.tags),
        actor=actor,
    )
    claim = take(app, "project", cmd.domain_id, cmd.name, project.id.hex, "Project", actor)
    if not cmd.enabled:
        project.update(cmd.name, cmd.description, False, list(cmd.tags), actor)
    quota = Quota(project_id=project.id.hex, limits=DEFAULT_LIMITS, actor=actor)
    return Receipt.of(project.id, app.save(project, claim, quota))


def update_project(cmd: UpdateProject, app: CloudApp, actor: Actor) -> Receipt:
    project = load_project(app, cmd.project_id)
    name = project.name if cmd.name is None else cmd.name
    require_text(name, "Project name", MAX_NAME)
    require_description(cmd.description or "")
    tags = project.tags if cmd.tags is None else list(cmd.tags)
    _require_tags(tags)
    claims = renamed(
        app, "project", project.domain_id, (project.name, name), project.id.hex, "Project", actor
    )
    project.update(
        name,
        project.description if cmd.description is None else cmd.description,
        project.enabled if cmd.enabled is None else cmd.enabled,
        tags,
        actor,
    )
    return Receipt.of(project.id, app.save(project, *claims))


def delete_project(project_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """Refused while the project holds servers. Its quota closes in the same
    save, so a boot racing the deletion conflicts instead of slipping in.
    (Images are checked by the caller, on the images read model.)"""
    project = load_project(app, project_id)
    quota: Quota = app.repository.get(Quota.create_id(project.id.hex))
    servers = len(quota.allocations)
    if servers:
        raise Conflict(f"Project {project.name} still owns {servers} server(s); delete them first.")
    project.delete(actor)
    quota.close(actor)
    claim = claim_of(app, "project", project.domain_id, project.name)
    claim.release(project.id.hex, actor)
    return Receipt.of(project.id, app.save(project, quota, claim))


def load_project(app: CloudApp, project_id: str) -> Project:
    project = load(app, Project, parse_uuid(project_id, "Project"), f"Project {project_id}")
    if project.deleted:
        raise NotFound(f"Project {project_id} could not be found.")
    return project


def project_named(app: CloudApp, name: str, domain_id: str = DEFAULT_DOMAIN_ID) -> Project:
    holder = holder_of(app, "project", domain_id, name)
    if holder is None:
        raise NotFound(f"Project {name} could not be found.")
    return load_project(app, holder.hex)


def _require_tags(tags: tuple[str, ...] | list[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"A project has at most {MAX_TAGS} tags")
    for tag in tags:
        require_text(tag, "Tag", 255)
        if "," in tag or "/" in tag:
            raise InvalidInput("Tags must not contain ',' or '/'")


# Users ----------------------------------------------------------------------


@dataclass(frozen=True)
class CreateUser:
    """A user with roles on the project named (the seed's way), or with a
    default project by id and no roles yet (Keystone's POST /v3/users)."""

    name: str
    password: str
    project_name: str = ""
    roles: tuple[str, ...] = ("member",)
    default_project_id: str = ""
    domain_id: str = DEFAULT_DOMAIN_ID
    email: str = ""
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class UpdateUser:
    """Keystone's PATCH /v3/users/{id}; a password set here needs no original."""

    user_id: str
    name: str | None = None
    email: str | None = None
    description: str | None = None
    enabled: bool | None = None
    default_project_id: str | None = None
    password: str | None = None


def create_user(cmd: CreateUser, app: CloudApp, hasher: PasswordHasher, actor: Actor) -> Receipt:
    require_text(cmd.name, "User name")
    _require_user_text(cmd.email, cmd.description)
    if len(cmd.password) < 1:
        raise InvalidInput("Password must not be empty")
    usable_domain(app, cmd.domain_id)
    if cmd.project_name:
        project: Project | None = project_named(app, cmd.project_name, cmd.domain_id)
    elif cmd.default_project_id:
        project = load_project(app, cmd.default_project_id)
    else:
        project = None
    user = User(
        name=cmd.name,
        password_hash=hasher.hash(cmd.password),
        default_project_id=project.id.hex if project else "",
        domain_id=cmd.domain_id,
        email=cmd.email,
        description=cmd.description,
        actor=actor,
    )
    claim = take(app, "user", cmd.domain_id, cmd.name, user.id.hex, "User", actor)
    if project is not None and cmd.project_name:
        for role in cmd.roles:
            _require_role(app, role)
            user.grant(project.id.hex, role, actor)
    if not cmd.enabled:
        user.update(user.name, user.email, user.description, False, user.default_project_id, actor)
    return Receipt.of(user.id, app.save(user, claim))


def update_user(cmd: UpdateUser, app: CloudApp, hasher: PasswordHasher, actor: Actor) -> Receipt:
    user = load_user(app, cmd.user_id)
    name = user.name if cmd.name is None else cmd.name
    require_text(name, "User name")
    email = user.email if cmd.email is None else cmd.email
    description = user.description if cmd.description is None else cmd.description
    _require_user_text(email, description)
    default_project = user.default_project_id
    if cmd.default_project_id is not None:
        default_project = (
            cmd.default_project_id and load_project(app, cmd.default_project_id).id.hex
        )
    claims = renamed(app, "user", user.domain_id, (user.name, name), user.id.hex, "User", actor)
    enabled = user.enabled if cmd.enabled is None else cmd.enabled
    user.update(name, email, description, enabled, default_project, actor)
    if cmd.password is not None:
        if not cmd.password:
            raise InvalidInput("Password must not be empty")
        user.change_password(hasher.hash(cmd.password), actor)
    return Receipt.of(user.id, app.save(user, *claims))


def delete_user(user_id: str, app: CloudApp, actor: Actor) -> Receipt:
    user = load_user(app, user_id)
    user.delete(actor)
    claim = claim_of(app, "user", user.domain_id, user.name)
    claim.release(user.id.hex, actor)
    return Receipt.of(user.id, app.save(user, claim))


def load_user(app: CloudApp, user_id: str) -> User:
    user = load(app, User, parse_uuid(user_id, "User"), f"User {user_id}")
    if user.deleted:
        raise NotFound(f"User {user_id} could not be found.")
    return user


def _require_user_text(email: str, description: str) -> None:
    require_text(email, "Email", 255, allow_empty=True)
    require_text(description, "Description", 255, allow_empty=True)


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
    user = load_user(app, cmd.user_id)
    if not hasher.verify(user.password_hash, cmd.original_password):
        raise Unauthorized("The original password is not correct.")
    user.change_password(hasher.hash(cmd.password), actor)
    return Receipt.of(user.id, app.save(user))


@dataclass(frozen=True)
class RevokeToken:
    user_id: str
    audit_id: str
    expires_at: float


def revoke_token(cmd: RevokeToken, app: CloudApp, actor: Actor) -> Receipt:
    user = load_user(app, cmd.user_id)
    user.revoke_token(cmd.audit_id, cmd.expires_at, actor)
    return Receipt.of(user.id, app.save(user))


# Roles ----------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRole:
    name: str
    description: str = ""


def create_role(cmd: CreateRole, app: CloudApp, actor: Actor) -> Receipt:
    require_text(cmd.name, "Role name", 255)
    require_description(cmd.description)
    if cmd.name in BUILT_IN_ROLES or Role.create_id(cmd.name) in app.repository:
        raise Conflict(f"Role {cmd.name} already exists")
    role = Role(name=cmd.name, description=cmd.description, actor=actor)
    return Receipt.of(role.id, app.save(role))


def role_exists(app: CloudApp, name: str) -> bool:
    return name in BUILT_IN_ROLES or Role.create_id(name) in app.repository


def _require_role(app: CloudApp, name: str) -> None:
    if not role_exists(app, name):
        raise NotFound(f"Could not find role: {name}.")


@dataclass(frozen=True)
class GrantRole:
    """A role for a user on a project or (with domain_id) on a domain."""

    user_id: str
    project_id: str
    role: str
    domain_id: str = ""


def grant_role(cmd: GrantRole, app: CloudApp, actor: Actor) -> Receipt:
    """Granting a role held already appends nothing."""
    _require_role(app, cmd.role)
    user = load_user(app, cmd.user_id)
    if cmd.domain_id:
        user.grant_on_domain(load_domain(app, cmd.domain_id, True).domain_id, cmd.role, actor)
    else:
        user.grant(load_project(app, cmd.project_id).id.hex, cmd.role, actor)
    return Receipt.of(user.id, app.save(user))


def revoke_role(cmd: GrantRole, app: CloudApp, actor: Actor) -> Receipt:
    """404 if the user does not hold that role there, as Keystone answers."""
    _require_role(app, cmd.role)
    user = load_user(app, cmd.user_id)
    if cmd.domain_id:
        held = user.revoke_on_domain(cmd.domain_id, cmd.role, actor)
    else:
        held = user.revoke(cmd.project_id, cmd.role, actor)
    if not held:
        raise NotFound(f"Could not find role assignment with role: {cmd.role}.")
    return Receipt.of(user.id, app.save(user))
