"""The unmodified `openstack` client's identity lookups, as the admin runs them."""

from __future__ import annotations

import pytest

from e2e.helpers import Stack, create_member
from e2e.test_openstack_cli import as_json, openstack

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
