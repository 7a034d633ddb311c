"""Unit tests for the Domain, Project, User and NameClaim aggregates, the
upcasters of the first identity events, and the Actor value."""

from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from commands.app import CloudApp
from domain.domains import Domain
from domain.errors import Conflict, Forbidden
from domain.identity import Project, User
from domain.names import NameClaim
from domain.values import SYSTEM, Actor, natural_id


def _user() -> User:
    user = User(
        name="alice",
        password_hash="h",
        default_project_id="p1",
        domain_id="default",
        email="",
        description="",
        actor=SYSTEM,
    )
    user.collect_events()
    return user


def test_natural_ids_are_stable_and_namespaced_by_kind() -> None:
    assert natural_id("project", "x") == natural_id("project", "x")
    assert natural_id("project", "x") != natural_id("user", "x")
    assert NameClaim.create_id("user", "d1", "x") != NameClaim.create_id("user", "d2", "x")


def test_new_projects_are_enabled_and_get_random_ids() -> None:
    one = Project(name="demo", description="", domain_id="default", tags=[], actor=SYSTEM)
    two = Project(name="demo", description="", domain_id="default", tags=[], actor=SYSTEM)
    assert one.enabled and not one.deleted
    assert one.id != two.id  # a name freed by a deletion can name a new project


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


def test_revoking_a_role_not_held_appends_nothing() -> None:
    user = _user()
    user.grant("p1", "member", SYSTEM)
    user.grant_on_domain("d1", "admin", SYSTEM)
    user.collect_events()
    assert not user.revoke("p1", "reader", SYSTEM)
    assert not user.revoke("p2", "member", SYSTEM)
    assert user.collect_events() == []
    assert user.revoke("p1", "member", SYSTEM) and user.roles_on("p1") == ()
    assert user.revoke_on_domain("d1", "admin", SYSTEM) and user.roles_on_domain("d1") == ()
    assert [type(e).__name__ for e in user.collect_events()] == [
        "RoleRevoked",
        "DomainRoleRevoked",
    ]


def test_an_update_that_changes_nothing_appends_nothing() -> None:
    user = _user()
    user.update("alice", "", "", True, "p1", SYSTEM)
    assert user.collect_events() == []
    user.update("alice", "a@example.org", "", False, "p1", SYSTEM)
    assert (user.email, user.enabled) == ("a@example.org", False)
    assert len(user.collect_events()) == 1


def test_a_domain_is_disabled_before_it_is_deleted_and_default_never() -> None:
    domain = Domain(domain_id=uuid4().hex, name="east", description="", actor=SYSTEM)
    with pytest.raises(Forbidden, match="disable it first"):
        domain.delete(SYSTEM)
    domain.update("east", "", False, SYSTEM)
    domain.delete(SYSTEM)
    assert domain.deleted
    default = Domain(domain_id="default", name="Default", description="", actor=SYSTEM)
    default.update("Default", "", False, SYSTEM)
    with pytest.raises(Forbidden, match="default domain"):
        default.delete(SYSTEM)


def test_a_name_claim_is_held_by_one_holder_at_a_time() -> None:
    claim = NameClaim(kind="project", scope="default", name="x", holder_id="a", actor=SYSTEM)
    claim.take("a", "Project", SYSTEM)  # held already by the same: no change
    with pytest.raises(Conflict, match="Project x already exists"):
        claim.take("b", "Project", SYSTEM)
    claim.release("b", SYSTEM)  # not b's to release: no change
    assert claim.holder_id == "a"
    claim.release("a", SYSTEM)
    claim.take("b", "Project", SYSTEM)
    assert claim.holder_id == "b"
    assert [type(e).__name__ for e in claim.collect_events()] == ["Created", "Released", "Taken"]


def test_first_version_project_and_user_events_read_into_the_default_domain() -> None:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    actor = {"user_id": "system", "project_id": "", "roles": ["admin"], "request_id": "r"}
    common = {"timestamp": "2026-01-01T00:00:00+00:00", "originator_topic": ""}
    project_state = {
        **common,
        "originator_topic": "domain.identity:Project",
        "name": "demo",
        "description": "",
        "actor": actor,
    }
    user_state = {
        **common,
        "originator_topic": "domain.identity:User",
        "name": "alice",
        "password_hash": "h",
        "default_project_id": "",
        "actor": actor,
    }
    mapper = app.mapper
    # Stored in this app's encoding, as the ledger holds them, minus the new fields.
    for topic, state in (
        ("domain.identity:Project.Created", project_state),
        ("domain.identity:User.Created", user_state),
    ):
        probe = mapper.to_stored_event(
            Project(
                name="p", description="", domain_id="default", tags=[], actor=SYSTEM
            ).collect_events()[0]
        )
        stored = StoredEvent(probe.originator_id, 1, topic, _reencode(mapper, probe, state))
        event = mapper.to_domain_event(stored)
        assert event.domain_id == "default"  # type: ignore[attr-defined]
        aggregate = event.mutate(None)  # type: ignore[attr-defined]
        assert aggregate.domain_id == "default"
        assert aggregate.name in ("demo", "alice")


def _reencode(mapper: object, probe: StoredEvent, state: dict[str, object]) -> bytes:
    """The v1 state in the store's encoding, with the probe's typed values."""
    transcoder = mapper.transcoder  # type: ignore[attr-defined]
    decoded = transcoder.decode(probe.state)
    v1 = {k: v for k, v in decoded.items() if k in ("timestamp", "originator_topic")}
    v1.update({k: v for k, v in state.items() if k not in ("timestamp", "originator_topic")})
    v1["originator_topic"] = state["originator_topic"]
    v1["actor"] = decoded["actor"]
    v1.pop("class_version", None)
    return bytes(transcoder.encode(v1))


def test_actor_is_admin_only_with_the_admin_role() -> None:
    assert Actor("u", "p", ("admin", "member"), "r").is_admin
    assert not Actor("u", "p", ("member",), "r").is_admin


def test_actor_as_service_keeps_project_and_request_id() -> None:
    user = Actor("u1", "p1", ("admin",), "req-9")
    service = user.as_service("compute")
    assert service == Actor("service:compute", "p1", ("service",), "req-9")
    assert not service.is_admin
