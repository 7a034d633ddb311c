"""A role holds where it was granted (issue 19, part 2): the admin role on
the cloud's admin project makes the cloud's admin; on a domain, that
domain's admin; on another project, that project's member and reader."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from api.policy import Policy
from commands.app import CloudApp
from domain.values import SYSTEM, Actor

EAST, WEST = "d-east", "d-west"


def _token_actor(policy: Policy, actor: Actor) -> Actor:
    """An actor as api/context.py builds it from a token: with the verdict."""
    return replace(actor, cloud_admin=policy.is_cloud_admin(actor))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


@pytest.fixture(scope="module")
def cloud_admin(policy: Policy) -> Actor:
    admin = Actor("root", "p-admin", ("admin",), "r", "default", is_admin_project=True)
    return _token_actor(policy, admin)


@pytest.fixture(scope="module")
def project_admin(policy: Policy) -> Actor:
    """The admin role on an ordinary project of the east domain."""
    return _token_actor(policy, Actor("pa", "p-east", ("admin",), "r", EAST))


@pytest.fixture(scope="module")
def domain_admin(policy: Policy) -> Actor:
    return _token_actor(policy, Actor("da", "", ("admin",), "r", domain_id=EAST))


def test_only_the_admin_role_on_the_admin_project_makes_the_clouds_admin(
    cloud_admin: Actor, project_admin: Actor, domain_admin: Actor, policy: Policy
) -> None:
    assert cloud_admin.is_admin
    assert not project_admin.is_admin
    assert not domain_admin.is_admin
    member_of_admin = Actor("m", "p-admin", ("member",), "r", "default", is_admin_project=True)
    assert not _token_actor(policy, member_of_admin).is_admin


CLOUD_WIDE = [
    "compute:servers:index:all_tenants",
    "compute:hypervisors:list",
    "compute:services:list",
    "compute:flavors:create",
    "compute:quotas:update",
    "compute:usage:list",
    "image:download_image:any_project",
    "image:publicize_image",
    "audit:list",
    "cloudledger:metrics",
    "identity:list_domains",
    "identity:create_domain",
    "identity:create_role",
]


@pytest.mark.parametrize("rule", CLOUD_WIDE)
def test_cloud_wide_actions_are_the_cloud_admins_only(
    rule: str, policy: Policy, cloud_admin: Actor, project_admin: Actor, domain_admin: Actor
) -> None:
    assert policy.allowed(cloud_admin, rule)
    assert not policy.allowed(project_admin, rule)
    assert not policy.allowed(domain_admin, rule)


def test_a_project_admin_is_a_member_of_its_own_project_only(
    policy: Policy, project_admin: Actor
) -> None:
    assert policy.allowed(project_admin, "compute:servers:create")
    assert policy.allowed(project_admin, "compute:servers:delete", {"project_id": "p-east"})
    assert not policy.allowed(project_admin, "compute:servers:delete", {"project_id": "p-west"})
    assert not policy.allowed(project_admin, "identity:list_users")
    assert not policy.allowed(project_admin, "identity:create_project")


def test_a_domain_admin_manages_its_own_domain(policy: Policy, domain_admin: Actor) -> None:
    east_user = {"target.user.domain_id": EAST}
    east_project = {"target.project.domain_id": EAST}
    for rule in ("identity:create_user", "identity:update_user", "identity:delete_user"):
        assert policy.allowed(domain_admin, rule, east_user)
    for rule in ("identity:create_project", "identity:update_project", "identity:delete_project"):
        assert policy.allowed(domain_admin, rule, east_project)
    for rule in ("identity:list_users", "identity:list_projects", "identity:list_role_assignments"):
        assert policy.allowed(domain_admin, rule, {"target.domain_id": EAST})
    assert policy.allowed(domain_admin, "identity:create_grant", {**east_user, **east_project})
    on_domain = {**east_user, "target.domain.id": EAST}
    assert policy.allowed(domain_admin, "identity:create_grant", on_domain)
    assert policy.allowed(domain_admin, "identity:list_roles")
    assert policy.allowed(domain_admin, "identity:get_domain", {"target.domain.id": EAST})


def test_a_domain_admin_reaches_nothing_outside_its_domain(
    policy: Policy, domain_admin: Actor
) -> None:
    west_user = {"target.user.domain_id": WEST}
    west_project = {"target.project.domain_id": WEST}
    east_user = {"target.user.domain_id": EAST}
    east_project = {"target.project.domain_id": EAST}
    for rule in ("identity:create_user", "identity:update_user", "identity:get_user"):
        assert not policy.allowed(domain_admin, rule, west_user)
        assert not policy.allowed(domain_admin, rule, {})  # a user the read model lacks
    for rule in ("identity:create_project", "identity:delete_project", "identity:get_project"):
        assert not policy.allowed(domain_admin, rule, west_project)
    for rule in ("identity:list_users", "identity:list_projects", "identity:list_role_assignments"):
        assert not policy.allowed(domain_admin, rule, {"target.domain_id": WEST})
        assert not policy.allowed(domain_admin, rule)  # unfiltered: everyone's
    # No grant on another domain's project, nor to another domain's user.
    assert not policy.allowed(domain_admin, "identity:create_grant", {**east_user, **west_project})
    assert not policy.allowed(domain_admin, "identity:create_grant", {**west_user, **east_project})
    on_west = {**east_user, "target.domain.id": WEST}
    assert not policy.allowed(domain_admin, "identity:create_grant", on_west)
    assert not policy.allowed(domain_admin, "identity:get_domain", {"target.domain.id": WEST})
    assert not policy.allowed(domain_admin, "compute:servers:index")  # no project: no compute


def test_a_domain_reader_reads_its_domain_and_changes_nothing(policy: Policy) -> None:
    reader = _token_actor(policy, Actor("dr", "", ("reader",), "r", domain_id=EAST))
    assert policy.allowed(reader, "identity:list_users", {"target.domain_id": EAST})
    assert policy.allowed(reader, "identity:get_user", {"target.user.domain_id": EAST})
    assert not policy.allowed(reader, "identity:create_user", {"target.user.domain_id": EAST})
    assert not policy.allowed(reader, "identity:list_roles")


def test_an_operator_may_make_every_admin_the_clouds_again(
    tmp_path: Path, project_admin: Actor
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"context_is_admin": "role:admin"\n')
    permissive = Policy(path)
    again = replace(project_admin, cloud_admin=permissive.is_cloud_admin(project_admin))
    assert again.is_admin
    assert permissive.allowed(again, "compute:servers:index:all_tenants")


def test_an_operator_may_name_the_admin_project_by_id(tmp_path: Path, cloud_admin: Actor) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"context_is_admin": "role:admin and project_id:p-ops"\n')
    ops = Policy(path)
    assert not ops.is_cloud_admin(cloud_admin)
    assert ops.is_cloud_admin(replace(cloud_admin, project_id="p-ops", is_admin_project=False))


def test_the_clouds_own_actors_keep_their_admin_role_cloud_wide(policy: Policy) -> None:
    assert SYSTEM.is_admin and SYSTEM.cloud_admin is None
    assert policy.allowed_rule(SYSTEM, "context_is_admin")


def _round_trip(actor: Actor) -> tuple[dict[str, object], Actor]:
    """What the ledger stores for an actor, and what it reads back."""
    transcoder = CloudApp().mapper.transcoder
    stored = transcoder.encode({"actor": actor})
    data: dict[str, object] = json.loads(stored)["actor"]["_data_"]
    return data, transcoder.decode(stored)["actor"]


def test_an_actor_is_stored_with_its_scope_and_old_actors_keep_their_bytes(
    domain_admin: Actor, cloud_admin: Actor
) -> None:
    data, back = _round_trip(domain_admin)
    assert back == domain_admin and not back.is_admin
    assert data["domain_id"] == EAST and data["cloud_admin"] is False
    data, back = _round_trip(cloud_admin)
    assert back == cloud_admin and back.is_admin
    data, back = _round_trip(SYSTEM)
    assert set(data) == {"user_id", "project_id", "roles", "request_id"}
    assert back == SYSTEM


def test_a_system_token_with_the_admin_role_is_the_clouds_admin_for_identity_only(
    policy: Policy,
) -> None:
    system_admin = _token_actor(policy, Actor("root", "", ("admin",), "r", system_scope="all"))
    assert system_admin.is_admin
    assert policy.allowed(system_admin, "identity:create_domain")
    assert policy.allowed(system_admin, "identity:update_user", {"target.user.domain_id": WEST})
    assert not policy.allowed(system_admin, "compute:hypervisors:list")  # needs a project
    system_reader = _token_actor(policy, Actor("r", "", ("reader",), "r", system_scope="all"))
    assert not system_reader.is_admin
    assert not policy.allowed(system_reader, "identity:list_users")
