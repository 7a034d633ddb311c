"""The unmodified `openstack` client's identity lookups, as the admin runs them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from e2e.helpers import Stack, create_member, login
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack

pytestmark = pytest.mark.e2e


def test_domains_projects_users_and_roles_as_the_cli_lists_them(stack: Stack) -> None:
    member = create_member(stack, "cli-id")

    domains = as_json(openstack(stack, "domain", "list", "-f", "json"))
    # Other tests of the shared stack add domains of their own.
    assert ("default", "Default", True) in [(d["ID"], d["Name"], d["Enabled"]) for d in domains]

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
    assert roles == {"admin", "member", "reader", "service"}

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
    first, second = create_member(stack, "iso-a"), create_member(stack, "iso-b")
    a = login(stack, first.user, first.password, first.project)
    b = login(stack, second.user, second.password, second.project)
    assert a.client.get(f"/identity/v3/projects/{a.project_id}").status_code == 200
    assert b.client.get(f"/identity/v3/projects/{a.project_id}").status_code == 404
    assert b.client.get("/identity/v3/projects").status_code == 403  # listing is for admins


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
    clouds_yaml_for(stack, tmp_path, user, password, project)
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
    clouds_yaml_for(stack, tmp_path, user, "n3w", project)
    assert as_json(openstack(tenant, "token", "issue", "-f", "json"))["user_id"] == made["id"]
    clouds_yaml_for(stack, tmp_path, user, password, project)
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


def _token_works(stack: Stack, token: str) -> int:
    """The status a token gets on a read its owner may do."""
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        headers = {"X-Auth-Token": token}
        return client.get("/compute/v2.1/servers", headers=headers).status_code


def _server_create(stack: Stack, name: str) -> dict[str, object]:
    args = ["server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2", "--nic", "none"]
    return as_json(openstack(stack, *args, "--wait", "-f", "json", name))


def test_a_disabled_user_is_refused_and_a_project_with_a_server_is_kept(
    stack: Stack, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    project, user, password = f"gone-{suffix}", f"gone-user-{suffix}", f"pw-{suffix}"
    ok(openstack(stack, "project", "create", project))
    ok(openstack(stack, "user", "create", "--password", password, user))
    ok(openstack(stack, "role", "add", "--user", user, "--project", project, "member"))
    tenant = replace(stack, state_dir=tmp_path)
    clouds_yaml_for(stack, tmp_path, user, password, project)
    token = as_json(openstack(tenant, "token", "issue", "-f", "json"))["id"]
    assert _server_create(tenant, f"keep-{suffix}")["status"] == "ACTIVE"
    assert _token_works(stack, token) == 200

    ok(openstack(stack, "user", "set", "--disable", user))
    assert _token_works(stack, token) == 401  # at once, on the token issued before
    assert openstack(tenant, "token", "issue").returncode != 0  # and no new one

    refused = openstack(stack, "project", "delete", project)
    assert refused.returncode != 0 and "server" in refused.stderr
    assert as_json(openstack(stack, "project", "show", project, "-f", "json"))["name"] == project

    ok(openstack(stack, "user", "set", "--enable", user))
    assert _token_works(stack, token) == 401  # re-enabling does not bring old tokens back
    ok(openstack(tenant, "server", "delete", "--wait", f"keep-{suffix}"))
    ok(openstack(stack, "project", "set", "--disable", project))
    assert openstack(tenant, "token", "issue").returncode != 0  # a disabled project
    ok(openstack(stack, "project", "delete", project))
    assert openstack(stack, "project", "show", project).returncode != 0
    ok(openstack(stack, "project", "create", project))  # the name is free again


def test_domains_custom_roles_grants_and_revocations_with_the_cli(
    stack: Stack, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    domain, project, user = f"dom-{suffix}", f"dp-{suffix}", f"du-{suffix}"
    made = as_json(
        openstack(stack, "domain", "create", "--description", "east", domain, "-f", "json")
    )
    assert (made["name"], made["enabled"], made["description"]) == (domain, True, "east")
    names = {d["Name"] for d in as_json(openstack(stack, "domain", "list", "-f", "json"))}
    assert {"Default", domain} <= names
    ok(openstack(stack, "project", "create", "--domain", domain, project))
    ok(openstack(stack, "project", "create", project))  # the same name in another domain
    ok(openstack(stack, "user", "create", "--domain", domain, "--password", "pw", user))
    ok(openstack(stack, "role", "create", f"auditor-{suffix}"))
    in_domain = ["--user", user, "--user-domain", domain, "--project", project]
    in_domain += ["--project-domain", domain]
    ok(openstack(stack, "role", "add", *in_domain, "member"))
    ok(openstack(stack, "role", "add", *in_domain, f"auditor-{suffix}"))
    listed = as_json(
        openstack(stack, "role", "assignment", "list", *in_domain, "--names", "-f", "json")
    )
    assert sorted((a["Role"], a["User"], a["Project"]) for a in listed) == [
        (f"auditor-{suffix}", f"{user}@{domain}", f"{project}@{domain}"),
        ("member", f"{user}@{domain}", f"{project}@{domain}"),
    ]

    member = login_in(stack, user, "pw", project, domain)
    assert _token_works(stack, member) == 200
    ok(openstack(stack, "role", "remove", *in_domain, "member"))
    assert _token_works(stack, member) == 401  # the role is gone: so is the token

    again = login_in(stack, user, "pw", project, domain)  # still an auditor there
    ok(openstack(stack, "token", "revoke", again))
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        projects = client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": again})
    assert projects.status_code == 401

    ok(openstack(stack, "domain", "set", "--disable", domain))
    assert openstack(stack, "domain", "delete", domain).returncode != 0  # still holds things
    ok(openstack(stack, "user", "delete", "--domain", domain, user))
    ok(openstack(stack, "project", "delete", "--domain", domain, project))
    ok(openstack(stack, "domain", "delete", domain))
    assert domain not in {
        d["Name"] for d in as_json(openstack(stack, "domain", "list", "-f", "json"))
    }


def login_in(stack: Stack, user: str, password: str, project: str, domain: str) -> str:
    """A token for a user and project of a domain other than Default."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": domain}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": domain}}},
        }
    }
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        response = client.post("/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]
