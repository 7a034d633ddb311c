"""The unmodified `openstack` client's identity lookups, as the admin runs them."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from e2e.helpers import Stack, create_member
from e2e.test_openstack_cli import as_json, ok, openstack

pytestmark = pytest.mark.e2e


def test_domains_projects_users_and_roles_as_the_cli_lists_them(stack: Stack) -> None:
    member = create_member(stack, "cli-id")

    domains = as_json(openstack(stack, "domain", "list", "-f", "json"))
    assert [(d["ID"], d["Name"], d["Enabled"]) for d in domains] == [("default", "Default", True)]

    projects = {
        p["Name"]: p["ID"] for p in as_json(openstack(stack, "project", "list", "-f", "json"))
    }
    assert {"admin", member.project} <= set(projects)
    shown = as_json(openstack(stack, "project", "show", member.project, "-f", "json"))
    assert (shown["id"], shown["domain_id"], shown["enabled"]) == (
        projects[member.project],
        "default",
        True,
    )

    users = {u["Name"] for u in as_json(openstack(stack, "user", "list", "-f", "json"))}
    assert {"admin", member.user} <= users
    roles = {r["Name"] for r in as_json(openstack(stack, "role", "list", "-f", "json"))}
    assert roles == {"admin", "member", "reader"}

    assignments = as_json(
        openstack(
            stack,
            "role",
            "assignment",
            "list",
            "--project",
            member.project,
            "--names",
            "-f",
            "json",
        )
    )
    assert [(a["Role"], a["User"], a["Project"]) for a in assignments] == [
        ("member", f"{member.user}@Default", f"{member.project}@Default")
    ]


def test_a_project_id_of_another_tenant_is_not_found_for_a_member(stack: Stack) -> None:
    from e2e.helpers import login

    first, second = create_member(stack, "iso-a"), create_member(stack, "iso-b")
    a = login(stack, first.user, first.password, first.project)
    b = login(stack, second.user, second.password, second.project)
    assert a.client.get(f"/identity/v3/projects/{a.project_id}").status_code == 200
    assert b.client.get(f"/identity/v3/projects/{a.project_id}").status_code == 404
    assert b.client.get("/identity/v3/projects").status_code == 403  # listing is for admins


def _clouds_yaml_for(stack: Stack, tmp_path: Path, user: str, password: str, project: str) -> Path:
    text = (stack.state_dir / "clouds.yaml").read_text()
    for key, value in (("username", user), ("password", password), ("project_name", project)):
        text = re.sub(rf"(      {key}: ).*", rf"\g<1>{value}", text)
    path = tmp_path / "clouds.yaml"
    path.write_text(text)
    return path


def test_an_admin_makes_a_tenant_whose_user_boots_a_server(stack: Stack, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    project, user, password = f"tenant-{suffix}", f"tenant-user-{suffix}", f"pw-{suffix}"

    created = as_json(openstack(stack, "project", "create", project, "-f", "json"))
    assert (created["name"], created["domain_id"], created["enabled"]) == (project, "default", True)
    made = as_json(openstack(stack, "user", "create", "--password", password, user, "-f", "json"))
    assert made["name"] == user and "password" not in made
    ok(openstack(stack, "role", "add", "--user", user, "--project", project, "member"))
    assignments = as_json(
        openstack(
            stack, "role", "assignment", "list", "--project", project, "--names", "-f", "json"
        )
    )
    assert [(a["Role"], a["User"]) for a in assignments] == [("member", f"{user}@Default")]

    tenant = replace(stack, state_dir=tmp_path)
    _clouds_yaml_for(stack, tmp_path, user, password, project)
    token = as_json(openstack(tenant, "token", "issue", "-f", "json"))
    assert token["project_id"] == created["id"] and token["user_id"] == made["id"]
    server = as_json(
        openstack(
            tenant,
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "tiny-qcow2",
            "--nic",
            "none",
            "--wait",
            "-f",
            "json",
            f"vm-{suffix}",
        )
    )
    assert server["status"] == "ACTIVE"
    listed = as_json(openstack(tenant, "server", "list", "-f", "json"))
    assert [s["Name"] for s in listed] == [f"vm-{suffix}"]  # only the tenant's own
    ok(openstack(tenant, "server", "delete", "--wait", f"vm-{suffix}"))

    wrong = openstack(
        tenant, "user", "password", "set", "--password", "n3w", "--original-password", "nope"
    )
    assert wrong.returncode != 0
    ok(
        openstack(
            tenant, "user", "password", "set", "--password", "n3w", "--original-password", password
        )
    )
    _clouds_yaml_for(stack, tmp_path, user, "n3w", project)
    assert as_json(openstack(tenant, "token", "issue", "-f", "json"))["user_id"] == made["id"]
    _clouds_yaml_for(stack, tmp_path, user, password, project)
    assert openstack(tenant, "token", "issue").returncode != 0  # the old one is gone


def test_creating_a_project_or_user_twice_or_in_an_unknown_domain_is_refused(
    stack: Stack,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    ok(openstack(stack, "project", "create", f"twice-{suffix}"))
    again = openstack(stack, "project", "create", f"twice-{suffix}")
    assert again.returncode != 0 and "409" in again.stderr
    elsewhere = openstack(stack, "project", "create", "--domain", "nowhere", f"x-{suffix}")
    assert elsewhere.returncode != 0
    empty = openstack(stack, "user", "create", "--password", "", f"nopass-{suffix}")
    assert empty.returncode != 0
