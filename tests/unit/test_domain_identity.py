"""Unit tests for the Project and User aggregates and the Actor value."""

import pytest

from domain.errors import InvalidInput
from domain.identity import Project, User
from domain.values import SYSTEM, Actor, natural_id


def _user() -> User:
    user = User(name="alice", password_hash="h", default_project_id="p1", actor=SYSTEM)
    user.collect_events()
    return user


def test_natural_ids_are_stable_and_namespaced_by_kind() -> None:
    assert natural_id("project", "x") == natural_id("project", "x")
    assert natural_id("project", "x") != natural_id("user", "x")
    assert Project.create_id("demo") == natural_id("project", "demo")
    assert User.create_id("alice") == natural_id("user", "alice")


def test_new_project_is_enabled() -> None:
    project = Project(name="demo", description="", actor=SYSTEM)
    assert project.enabled
    assert project.id == Project.create_id("demo")


def test_new_user_has_no_roles() -> None:
    user = _user()
    assert user.enabled
    assert user.roles_on("p1") == ()


def test_grant_adds_a_role_on_one_project_only() -> None:
    user = _user()
    user.grant("p1", "member", SYSTEM)
    assert user.roles_on("p1") == ("member",)
    assert user.roles_on("p2") == ()


def test_grant_twice_appends_one_event() -> None:
    user = _user()
    user.grant("p1", "member", SYSTEM)
    user.grant("p1", "member", SYSTEM)
    user.grant("p1", "admin", SYSTEM)
    assert user.roles_on("p1") == ("member", "admin")
    assert len(user.collect_events()) == 2


def test_grant_of_an_unknown_role_is_rejected() -> None:
    user = _user()
    with pytest.raises(InvalidInput, match="Unknown role 'owner'"):
        user.grant("p1", "owner", SYSTEM)
    assert user.collect_events() == []


def test_actor_is_admin_only_with_the_admin_role() -> None:
    assert Actor("u", "p", ("admin", "member"), "r").is_admin
    assert not Actor("u", "p", ("member",), "r").is_admin


def test_actor_as_service_keeps_project_and_request_id() -> None:
    user = Actor("u1", "p1", ("admin",), "req-9")
    service = user.as_service("compute")
    assert service == Actor("service:compute", "p1", ("service",), "req-9")
    assert not service.is_admin
