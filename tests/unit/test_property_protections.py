"""Unit tests for property protection rules, with the seed's example file."""

from dataclasses import replace
from pathlib import Path

import pytest

from api.app import load_protections
from api.policy import Policy
from commands.bootstrap import Settings
from domain.property_protections import PropertyProtections, ProtectionFileError
from domain.values import Actor
from ops import cli

# The seed's property protections example (shared/seeds/002_0b26a32a0fe9175d.txt).
SEED_PROTECTIONS = Path(__file__).parents[1] / "data" / "property-protections.conf"

# The seed's example (shared/seeds/002_0b26a32a0fe9175d.txt), in the
# ``policies`` format: context_is_admin names a policy rule.
SEED = SEED_PROTECTIONS.read_text()
ADMIN = Actor("root", "p0", ("admin",), "r")
MEMBER = Actor("u", "p1", ("member",), "r")

# Each cell: (property, operation) -> (admin allowed, member allowed)
CELLS = {
    ("x_none_read", "create"): (True, False),
    ("x_none_read", "read"): (False, False),
    ("x_none_read", "update"): (False, False),
    ("x_none_read", "delete"): (False, False),
    ("x_none_update", "create"): (True, False),
    ("x_none_update", "read"): (True, False),
    ("x_none_update", "update"): (False, False),
    ("x_none_update", "delete"): (True, False),
    ("x_none_delete", "create"): (True, False),
    ("x_none_delete", "read"): (True, False),
    ("x_none_delete", "update"): (True, False),
    ("x_none_delete", "delete"): (False, False),
}


def _is_admin_rule(actor: Actor, rule: str) -> bool:
    return rule == "context_is_admin" and actor.is_admin


@pytest.mark.parametrize(("cell", "expected"), CELLS.items())
def test_the_seed_file_in_the_policies_format(
    cell: tuple[str, str], expected: tuple[bool, bool]
) -> None:
    rules = PropertyProtections.parse(SEED, "policies")
    rules.check_rule = _is_admin_rule
    name, operation = cell
    assert (rules.allows(ADMIN, operation, name), rules.allows(MEMBER, operation, name)) == expected


@pytest.mark.parametrize(("cell", "expected"), CELLS.items())
def test_the_seed_file_in_the_roles_format_with_the_admin_role(
    cell: tuple[str, str], expected: tuple[bool, bool]
) -> None:
    rules = PropertyProtections.parse(SEED.replace("context_is_admin", "admin"))
    name, operation = cell
    assert (rules.allows(ADMIN, operation, name), rules.allows(MEMBER, operation, name)) == expected


def test_anyone_at_sign_and_first_matching_section_wins() -> None:
    rules = PropertyProtections.parse(
        "[^x_billing_.*]\ncreate = admin\nread = admin,member\nupdate = admin\ndelete = admin\n"
        "[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n"
    )
    assert rules.allows(MEMBER, "read", "x_billing_code")
    assert not rules.allows(MEMBER, "update", "x_billing_code")
    assert rules.allows(MEMBER, "update", "os_distro")


def test_a_property_no_section_names_is_refused() -> None:
    rules = PropertyProtections.parse("[x_.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n")
    assert not rules.allows(ADMIN, "create", "os_distro")


def test_a_section_without_an_operation_refuses_it() -> None:
    rules = PropertyProtections.parse("[x_.*]\nread = @\n")
    assert not rules.allows(ADMIN, "create", "x_a")


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("[x\ncreate = @\n", "roles"),
        ("[(unclosed]\ncreate = @\n", "roles"),
        ("[x]\nwrite = @\n", "roles"),
        ("[x]\ncreate = @\n", "json"),
        ("create = @\n", "roles"),
    ],
)
def test_a_malformed_file_is_refused(text: str, fmt: str) -> None:
    with pytest.raises(ProtectionFileError):
        PropertyProtections.parse(text, fmt)


def _settings(tmp_path: Path, fmt: str, text: str | None) -> Settings:
    path = tmp_path / "protections.conf"
    if text is not None:
        path.write_text(text)
    return Settings(
        state_dir=tmp_path,
        database_url="",
        redis_url="",
        api_port=0,
        admin_password="",
        property_protection_file=path,
        property_protection_rule_format=fmt,
    )


def test_the_api_loads_the_seed_file_with_policy_rules(tmp_path: Path) -> None:
    rules = load_protections(_settings(tmp_path, "policies", SEED), Policy())
    assert rules is not None
    assert rules.allows(ADMIN, "create", "x_none_read")
    assert not rules.allows(MEMBER, "create", "x_none_read")


@pytest.mark.parametrize(
    ("fmt", "text", "words"),
    [
        ("roles", None, "No such file"),
        ("policies", "[x]\ncreate = no_such_rule\n", "no_such_rule"),
        ("policies", "[x\n", "cannot parse"),
    ],
)
def test_a_missing_or_bad_file_stops_the_api(
    tmp_path: Path, fmt: str, text: str | None, words: str
) -> None:
    with pytest.raises(ProtectionFileError, match=words):
        load_protections(_settings(tmp_path, fmt, text), Policy())


def test_no_file_enforces_nothing(tmp_path: Path) -> None:
    settings = replace(_settings(tmp_path, "roles", ""), property_protection_file=None)
    assert load_protections(settings, Policy()) is None


def test_cloudledger_api_refuses_to_start_on_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CLOUDLEDGER_PROPERTY_PROTECTION_FILE", str(tmp_path / "missing.conf"))
    assert cli.main(["api"]) == 2
    assert "property protections refused" in capsys.readouterr().err
