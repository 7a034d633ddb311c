"""Unit tests for projects, users and password authentication."""

from dataclasses import dataclass

import pytest

from commands.app import CloudApp
from commands.authentication import Authenticated, Login
from commands.authentication import authenticate as login
from commands.identity import (
    ChangePassword,
    CreateProject,
    CreateUser,
    GrantRole,
    change_password,
    create_project,
    create_user,
    grant_role,
)
from commands.names import holder_of
from commands.passwords import Argon2Hasher
from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from domain.identity import Project, User
from domain.quota import DEFAULT_LIMITS, Quota
from domain.values import SYSTEM

DENIED = "The request you have made requires authentication."


class FakeHasher:
    """Marks passwords instead of hashing them, so tests stay fast."""

    def hash(self, password: str) -> str:
        return "hashed:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "hashed:" + password


@dataclass
class World:
    app: CloudApp
    hasher: FakeHasher


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def world() -> World:
    app = _app()
    hasher = FakeHasher()
    create_project(CreateProject("alpha"), app, SYSTEM)
    create_project(CreateProject("beta"), app, SYSTEM)
    create_user(CreateUser("alice", "s3cret", "alpha"), app, hasher, SYSTEM)
    return World(app, hasher)


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


def _user(app: CloudApp, name: str) -> User:
    user = app.repository.get(holder_of(app, "user", DEFAULT_DOMAIN_ID, name))
    assert isinstance(user, User)
    return user


def _id(app: CloudApp, kind: str, name: str) -> str:
    holder = holder_of(app, kind, DEFAULT_DOMAIN_ID, name)
    assert holder is not None
    return holder.hex


def authenticate(
    app: CloudApp, hasher: FakeHasher, user: str, password: str, project: str
) -> Authenticated:
    return login(app, hasher, Login(password, user_name=user, project_name=project))


# --- projects ---------------------------------------------------------------


def test_create_project_saves_project_and_quota_together() -> None:
    app = _app()
    receipt = create_project(CreateProject("demo", "a demo"), app, SYSTEM)
    assert [topic for _, topic in receipt.events] == [
        "domain.identity:Project.Created",
        "domain.names:NameClaim.Created",
        "domain.quota:Quota.Created",
    ]
    assert [nid for nid, _ in receipt.events] == [1, 2, 3]
    project = app.repository.get(receipt.id)
    assert isinstance(project, Project)
    assert (project.name, project.description) == ("demo", "a demo")
    quota = app.repository.get(Quota.create_id(receipt.id.hex))
    assert isinstance(quota, Quota)
    assert quota.limits == DEFAULT_LIMITS
    assert quota.project_id == receipt.id.hex


def test_create_project_twice_is_a_conflict_and_appends_nothing(world: World) -> None:
    before = _max_id(world.app)
    with pytest.raises(Conflict, match="Project alpha already exists"):
        create_project(CreateProject("alpha"), world.app, SYSTEM)
    assert _max_id(world.app) == before


@pytest.mark.parametrize("name", ["", "   ", "x" * 65])
def test_create_project_with_bad_name_is_invalid_input(name: str) -> None:
    app = _app()
    with pytest.raises(InvalidInput):
        create_project(CreateProject(name), app, SYSTEM)
    assert _max_id(app) == 0


# --- users ------------------------------------------------------------------


def test_create_user_stores_the_hash_and_grants_roles(world: World) -> None:
    cmd = CreateUser("bob", "pw", "beta", roles=("member", "reader"))
    receipt = create_user(cmd, world.app, world.hasher, SYSTEM)
    user = _user(world.app, "bob")
    assert user.id == receipt.id
    assert user.password_hash == "hashed:pw"
    project_id = _id(world.app, "project", "beta")
    assert user.default_project_id == project_id
    assert user.roles_on(project_id) == ("member", "reader")
    assert [t.rsplit(":", 1)[1] for _, t in receipt.events] == [
        "User.Created",
        "User.RoleGranted",
        "User.RoleGranted",
        "NameClaim.Created",
    ]


def test_create_user_twice_is_a_conflict(world: World) -> None:
    before = _max_id(world.app)
    with pytest.raises(Conflict, match="User alice already exists"):
        create_user(CreateUser("alice", "x", "alpha"), world.app, world.hasher, SYSTEM)
    assert _max_id(world.app) == before


def test_create_user_in_unknown_project_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        create_user(CreateUser("bob", "x", "nope"), world.app, world.hasher, SYSTEM)


def test_create_user_with_empty_password_is_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput, match="Password"):
        create_user(CreateUser("bob", "", "alpha"), world.app, world.hasher, SYSTEM)


@pytest.mark.parametrize("name", ["", " ", "x" * 256])
def test_create_user_with_bad_name_is_invalid_input(world: World, name: str) -> None:
    with pytest.raises(InvalidInput, match="User name"):
        create_user(CreateUser(name, "pw", "alpha"), world.app, world.hasher, SYSTEM)


def test_create_user_with_unknown_role_appends_nothing(world: World) -> None:
    before = _max_id(world.app)
    cmd = CreateUser("bob", "pw", "alpha", roles=("member", "owner"))
    with pytest.raises(NotFound, match="Could not find role: owner"):
        create_user(cmd, world.app, world.hasher, SYSTEM)
    assert _max_id(world.app) == before


# --- authenticate -----------------------------------------------------------


def test_authenticate_with_the_right_password_returns_roles(world: World) -> None:
    result = authenticate(world.app, world.hasher, "alice", "s3cret", "alpha")
    assert result == Authenticated(
        _id(world.app, "user", "alice"),
        "alice",
        DEFAULT_DOMAIN_ID,
        "Default",
        _id(world.app, "project", "alpha"),
        "alpha",
        DEFAULT_DOMAIN_ID,
        "Default",
        roles=("member",),
    )


@pytest.mark.parametrize(
    ("user", "password", "project"),
    [
        ("alice", "wrong", "alpha"),  # wrong password
        ("mallory", "s3cret", "alpha"),  # unknown user
        ("alice", "s3cret", "gamma"),  # unknown project
        ("alice", "s3cret", "beta"),  # no role on the project
        ("alice", "", "alpha"),  # empty password
    ],
)
def test_authenticate_failures_are_unauthorized_with_one_message(
    world: World, user: str, password: str, project: str
) -> None:
    with pytest.raises(Unauthorized) as exc:
        authenticate(world.app, world.hasher, user, password, project)
    assert exc.value.message == DENIED


def test_authenticate_with_a_project_name_that_names_a_user_is_unauthorized(
    world: World,
) -> None:
    with pytest.raises(Unauthorized, match=DENIED):
        authenticate(world.app, world.hasher, "alice", "s3cret", "alice")


def test_password_is_never_stored_in_clear_with_the_real_hasher() -> None:
    app = _app()
    hasher = Argon2Hasher()
    password = "correct horse battery staple"
    create_project(CreateProject("alpha"), app, SYSTEM)
    create_user(CreateUser("alice", password, "alpha"), app, hasher, SYSTEM)
    notifications = app.recorder.select_notifications(start=1, limit=1000)
    assert any(n.topic.endswith("User.Created") for n in notifications)
    for notification in notifications:
        assert password.encode() not in notification.state
    assert password not in _user(app, "alice").password_hash
    result = authenticate(app, hasher, "alice", password, "alpha")
    assert result.roles == ("member",)
    with pytest.raises(Unauthorized):
        authenticate(app, hasher, "alice", password.upper(), "alpha")


# --- password change, grants ---------------------------------------------------


def test_a_password_change_needs_the_original_and_keeps_only_the_new_hash(world: World) -> None:
    alice = _id(world.app, "user", "alice")
    before = _max_id(world.app)
    with pytest.raises(Unauthorized, match="original password"):
        change_password(ChangePassword(alice, "guess", "n3w"), world.app, world.hasher, SYSTEM)
    with pytest.raises(InvalidInput):
        change_password(ChangePassword(alice, "s3cret", ""), world.app, world.hasher, SYSTEM)
    assert _max_id(world.app) == before  # refused: nothing appended

    change_password(ChangePassword(alice, "s3cret", "n3w"), world.app, world.hasher, SYSTEM)
    assert authenticate(world.app, world.hasher, "alice", "n3w", "alpha").user_name == "alice"
    with pytest.raises(Unauthorized):
        authenticate(world.app, world.hasher, "alice", "s3cret", "alpha")
    assert _user(world.app, "alice").password_hash == "hashed:n3w"


def test_a_user_made_without_roles_gets_them_by_grant_once(world: World) -> None:
    beta = _id(world.app, "project", "beta")
    receipt = create_user(
        CreateUser("bob", "pw", roles=(), default_project_id=beta), world.app, world.hasher, SYSTEM
    )
    with pytest.raises(Unauthorized):
        authenticate(world.app, world.hasher, "bob", "pw", "beta")  # no role there yet
    grant = GrantRole(receipt.id.hex, beta, "reader")
    assert grant_role(grant, world.app, SYSTEM).events
    assert grant_role(grant, world.app, SYSTEM).events == ()  # held already: nothing new
    assert authenticate(world.app, world.hasher, "bob", "pw", "beta").roles == ("reader",)
    with pytest.raises(NotFound, match="role"):
        grant_role(GrantRole(receipt.id.hex, beta, "emperor"), world.app, SYSTEM)
    with pytest.raises(NotFound):
        grant_role(GrantRole(receipt.id.hex, "not-a-project", "member"), world.app, SYSTEM)
