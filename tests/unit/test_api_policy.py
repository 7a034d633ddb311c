"""The policy engine: default personas, the operator's policy file on top,
and start-up errors that name the line of a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.declarations import Rule
from api.policy import ADMIN, BASE_RULES, MEMBER, READER, Policy, PolicyFileError
from api.registry import tables
from domain.errors import Forbidden
from domain.values import Actor


def _actor(*roles: str, project: str = "p1", user: str = "u1") -> Actor:
    return Actor(user, project, roles, "req-test")


ADMIN_ACTOR, MEMBER_ACTOR, READER_ACTOR = _actor("admin"), _actor("member"), _actor("reader")
ACTIONS = tables().checks()  # every resource's rules (api/resources/)


@pytest.fixture(scope="module")
def defaults() -> Policy:
    return Policy()


PERSONA_RULES = sorted(r for r, check in ACTIONS.items() if check in (ADMIN, MEMBER, READER))


# Identity's rules that a domain's admin (or reader) passes in its own domain.
DOMAIN_RULES = {
    f"identity:{action}"
    for action in (
        "get_domain",
        "list_projects",
        "get_project",
        "create_project",
        "update_project",
        "delete_project",
        "list_users",
        "create_user",
        "update_user",
        "delete_user",
        "list_roles",
        "get_role",
        "list_role_assignments",
        "list_grants",
        "check_grant",
        "create_grant",
        "revoke_grant",
    )
}


def test_the_rules_that_are_not_persona_rules_are_known() -> None:
    assert set(ACTIONS) - set(PERSONA_RULES) - DOMAIN_RULES == {
        "identity:get_user",
        "identity:change_password",
        "identity:list_user_projects",
        "identity:validate_token",
        "identity:revoke_token",
        "identity:get_auth_projects",
        "identity:get_auth_domains",
        "identity:get_auth_catalog",
        "image:download_image",
        "image:download_image:any_project",
        "image:upload_image",
        "compute:keypairs:index",
        "compute:keypairs:show",
        "compute:keypairs:create",
        "compute:keypairs:delete",
        "cloudledger:metrics",
    }


def test_compute_and_images_need_a_project_scoped_token(defaults: Policy) -> None:
    domain_admin = _actor("admin", project="")
    assert not defaults.allowed(domain_admin, "compute:servers:create")
    assert not defaults.allowed(domain_admin, "image:get_images")
    assert not defaults.allowed(domain_admin, "network:get_network")
    assert defaults.allowed(domain_admin, "identity:list_projects")


def test_only_identitys_rules_take_a_token_without_a_project() -> None:
    unscoped = {name for name, rule in tables().policy.items() if not rule.project_scoped}
    assert unscoped == {name for name in ACTIONS if name.startswith("identity:")}


def test_a_resource_says_which_of_its_rules_take_any_token() -> None:
    rules = {"widget:list": Rule("@", project_scoped=False), "widget:make": Rule("@")}
    policy = Policy(rules=rules)
    domain_reader = _actor("reader", project="")
    assert policy.allowed(domain_reader, "widget:list")
    assert not policy.allowed(domain_reader, "widget:make")
    assert policy.allowed(READER_ACTOR, "widget:make")
    with pytest.raises(KeyError):
        policy.allowed(READER_ACTOR, "compute:servers:index")  # not among the rules given


def test_a_service_may_download_images_but_not_create_projects(defaults: Policy) -> None:
    service = _actor("service", project="svc")
    assert defaults.allowed(service, "image:download_image", {"project_id": "p9"})
    assert not defaults.allowed(service, "identity:create_project")
    assert not defaults.allowed(service, "compute:servers:create", {"project_id": "p9"})


def test_tokens_are_validated_by_their_owner_an_admin_or_a_service(defaults: Policy) -> None:
    assert defaults.allowed(READER_ACTOR, "identity:validate_token", {"user_id": "u1"})
    assert not defaults.allowed(MEMBER_ACTOR, "identity:validate_token", {"user_id": "u2"})
    assert defaults.allowed(_actor("service"), "identity:validate_token", {"user_id": "u2"})
    assert not defaults.allowed(MEMBER_ACTOR, "identity:revoke_token", {"user_id": "u2"})


def test_only_the_user_may_change_their_own_password(defaults: Policy) -> None:
    assert defaults.allowed(READER_ACTOR, "identity:change_password", {"user_id": "u1"})
    assert not defaults.allowed(ADMIN_ACTOR, "identity:change_password", {"user_id": "u2"})


def test_a_user_may_read_their_own_user_record_and_an_admin_anyones(defaults: Policy) -> None:
    assert defaults.allowed(READER_ACTOR, "identity:get_user", {"user_id": "u1"})
    assert not defaults.allowed(MEMBER_ACTOR, "identity:get_user", {"user_id": "u2"})
    assert defaults.allowed(ADMIN_ACTOR, "identity:get_user", {"user_id": "u2"})


@pytest.mark.parametrize("rule", PERSONA_RULES)
def test_each_persona_gets_what_its_default_rule_says(defaults: Policy, rule: str) -> None:
    who_may = {
        ADMIN: {"admin"},
        MEMBER: {"admin", "member"},
        READER: {"admin", "member", "reader"},
    }[ACTIONS[rule]]
    for persona, actor in (
        ("admin", ADMIN_ACTOR),
        ("member", MEMBER_ACTOR),
        ("reader", READER_ACTOR),
    ):
        assert defaults.allowed(actor, rule) is (persona in who_may), (persona, rule)
    assert not defaults.allowed(_actor(), rule)  # no role at all


def test_a_member_is_refused_on_another_projects_target(defaults: Policy) -> None:
    assert defaults.allowed(MEMBER_ACTOR, "compute:servers:delete", {"project_id": "p1"})
    assert not defaults.allowed(MEMBER_ACTOR, "compute:servers:delete", {"project_id": "p2"})
    assert defaults.allowed(ADMIN_ACTOR, "compute:servers:delete", {"project_id": "p2"})


def test_a_denial_is_forbidden_with_the_rules_name(defaults: Policy) -> None:
    with pytest.raises(Forbidden, match="compute:flavors:create"):
        defaults.enforce(MEMBER_ACTOR, "compute:flavors:create")


def test_asking_about_a_rule_that_does_not_exist_is_a_bug(defaults: Policy) -> None:
    with pytest.raises(KeyError):
        defaults.allowed(ADMIN_ACTOR, "compute:servers:teleport")


def _policy(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return Policy(path)


def test_the_operators_file_overrides_defaults_in_oslo_policy_language(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        '"compute:servers:create": "role:admin"\n'
        '"compute:flavors:index": "!"\n'
        '"compute:flavors:create": "rule:project_member_api and not role:reader"\n'
        '"image:publicize_image": "@"\n'
        '"compute:limits": "user_id:%(user_id)s"\n',
    )
    assert not policy.allowed(MEMBER_ACTOR, "compute:servers:create")
    assert policy.allowed(ADMIN_ACTOR, "compute:servers:create")
    assert not policy.allowed(ADMIN_ACTOR, "compute:flavors:index")
    # member implies reader, as Keystone's implied roles do, so "not role:reader" refuses it
    assert not policy.allowed(MEMBER_ACTOR, "compute:flavors:create")
    assert policy.allowed(READER_ACTOR, "image:publicize_image")
    assert policy.allowed(READER_ACTOR, "compute:limits", {"user_id": "u1"})
    assert not policy.allowed(READER_ACTOR, "compute:limits", {"user_id": "u2"})
    # rules the file does not name keep their defaults
    assert policy.allowed(READER_ACTOR, "compute:servers:index")


def test_a_file_naming_every_default_decides_as_the_defaults(
    tmp_path: Path, defaults: Policy
) -> None:
    lines = [f'"{name}": "{check}"' for name, check in {**BASE_RULES, **ACTIONS}.items()]
    policy = _policy(tmp_path, "\n".join(lines) + "\n")
    for rule in ACTIONS:
        for actor in (ADMIN_ACTOR, MEMBER_ACTOR, READER_ACTOR):
            assert policy.allowed(actor, rule) == defaults.allowed(actor, rule)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"compute:servers:index": "@"\n"compute:servers:teleport": "@"\n', "line 2: unknown rule"),
        ('"compute:servers:index": "role:admin and ("\n', "line 1: cannot parse rule"),
        ('"compute:servers:index":\n  - role:admin\n', "line 1: the rule for"),
        ("compute:servers:index: [unclosed\n", "cannot read it as YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ('"compute:servers:index": "rule:no_such_rule"\n', "line 1: no rule named 'no_such"),
        ('"admin_api": "rule:project_reader_api"\n', "cycle"),
    ],
)
def test_a_bad_policy_file_stops_start_up_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PolicyFileError, match=message) as raised:
        _policy(tmp_path, text)
    assert "Traceback" not in str(raised.value)


def test_an_empty_policy_file_keeps_every_default(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "")
    assert policy.allowed(MEMBER_ACTOR, "compute:servers:create")
    assert not policy.allowed(MEMBER_ACTOR, "compute:flavors:create")


def test_a_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read"):
        Policy(tmp_path / "nope.yaml")


def test_keypairs_are_their_users_and_readers_only_read_them(defaults: Policy) -> None:
    own, other = {"user_id": "u1"}, {"user_id": "u2"}
    assert defaults.allowed(READER_ACTOR, "compute:keypairs:index", own)
    assert not defaults.allowed(READER_ACTOR, "compute:keypairs:create", own)
    assert defaults.allowed(MEMBER_ACTOR, "compute:keypairs:create", own)
    assert not defaults.allowed(MEMBER_ACTOR, "compute:keypairs:show", other)
    assert defaults.allowed(ADMIN_ACTOR, "compute:keypairs:delete", other)


def test_metrics_are_for_admins_and_the_metrics_reader_role_only(defaults: Policy) -> None:
    assert defaults.allowed(ADMIN_ACTOR, "cloudledger:metrics")
    assert defaults.allowed(_actor("metrics_reader"), "cloudledger:metrics")
    assert not defaults.allowed(MEMBER_ACTOR, "cloudledger:metrics")
    assert not defaults.allowed(READER_ACTOR, "cloudledger:metrics")
