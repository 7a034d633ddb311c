"""A domain's admin, through the unmodified `openstack` client, stays in its
domain (issue 19, part 2): it cannot make itself the cloud's admin, take
over another domain's user, create in Default or see beyond its domain;
the admin role it gives itself on its own project reaches no other tenant,
no hypervisor and no audit. Every refusal appends nothing. It still
manages its own domain as before."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from e2e.helpers import Member, Stack, create_member, last_notification_id, login
from e2e.test_openstack_cli import as_json, ok, openstack
from e2e.test_openstack_cli_identity import login_in

pytestmark = pytest.mark.e2e


def _cli_as(stack: Stack, folder: Path, **auth: str) -> Stack:
    """The stack as another user's `openstack` sees it: a clouds.yaml of its
    own, scoped as ``auth`` says (to a domain, or to a project)."""
    folder.mkdir(exist_ok=True)
    lines = "".join(f"      {key}: {value}\n" for key, value in auth.items())
    (folder / "clouds.yaml").write_text(
        "clouds:\n  cloudledger:\n    auth:\n"
        f"      auth_url: {stack.url}/identity/v3\n{lines}"
        "    region_name: RegionOne\n    identity_api_version: 3\n"
    )
    return replace(stack, state_dir=folder)


@dataclass
class Scene:
    """Made by the cloud's admin: a domain "east" with a project and an admin
    (eve, the attacker), and a member of Default with a private image."""

    east: str  # the domain's id
    project: str  # east's project, by name
    eve: str  # east's admin, by id
    eve_cli: Stack  # eve's `openstack`, domain-scoped
    victim: Member
    victim_id: str
    private_image: str  # the victim's


def _id(result: subprocess.CompletedProcess[str]) -> str:
    return str(as_json(result)["id"])


@pytest.fixture(scope="module")
def scene(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    suffix = uuid.uuid4().hex[:8]
    east = _id(openstack(stack, "domain", "create", f"east-{suffix}", "-f", "json"))
    project = f"east-p-{suffix}"
    ok(openstack(stack, "project", "create", "--domain", east, project))
    made = openstack(
        stack, "user", "create", "--domain", east, "--password", "pw", f"eve-{suffix}", "-f", "json"
    )
    eve = _id(made)
    ok(openstack(stack, "role", "add", "--user", eve, "--domain", east, "admin"))
    victim = create_member(stack, "victim")
    victim_id = _id(openstack(stack, "user", "show", victim.user, "-f", "json"))
    session = login(stack, victim.user, victim.password, victim.project)
    image = session.client.post(
        "/image/v2/images", json={"name": "mine", "disk_format": "raw", "container_format": "bare"}
    ).json()["id"]
    put = session.client.put(
        f"/image/v2/images/{image}/file",
        content=b"the victim's disk",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 204, put.text
    session.client.close()
    folder = tmp_path_factory.mktemp("eve") / "domain"
    eve_cli = _cli_as(stack, folder, user_id=eve, password="pw", domain_id=east)
    yield Scene(east, project, eve, eve_cli, victim, victim_id, image)


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The client's complaint, once it failed."""
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_a_domain_admin_cannot_reach_beyond_its_domain_with_the_cli(
    stack: Stack, scene: Scene
) -> None:
    token = as_json(openstack(scene.eve_cli, "token", "issue", "-f", "json"))
    assert token["domain_id"] == scene.east and not token.get("project_id")
    admin_project = _id(openstack(stack, "project", "show", "admin", "-f", "json"))
    before = last_notification_id(stack)

    eve = scene.eve_cli
    # `role add` exits 0 whatever the answer (openstacksdk returns False on
    # a 403): what counts is that nothing changed, checked below.
    itself = ["role", "add", "--user", scene.eve]
    openstack(eve, *itself, "--project", admin_project, "admin")
    openstack(eve, *itself, "--domain", "default", "admin")
    openstack(eve, "role", "add", "--user", scene.victim_id, "--domain", scene.east, "admin")
    _refused(openstack(eve, "user", "set", "--password", "pwned", scene.victim_id))
    _refused(openstack(eve, "user", "set", "--disable", scene.victim_id))
    _refused(openstack(eve, "user", "delete", scene.victim_id))
    assert "403" in _refused(openstack(eve, "project", "create", "--domain", "default", "mine"))
    assert "403" in _refused(
        openstack(eve, "user", "create", "--domain", "default", "--password", "x", "mine")
    )
    assert "403" in _refused(openstack(eve, "domain", "list"))
    assert "403" in _refused(openstack(eve, "domain", "create", "mine"))
    assert last_notification_id(stack) == before  # nothing changed

    users = as_json(openstack(eve, "user", "list", "-f", "json"))
    assert [u["ID"] for u in users] == [scene.eve]
    projects = as_json(openstack(eve, "project", "list", "-f", "json"))
    assert [p["Name"] for p in projects] == [scene.project]
    assignments = as_json(openstack(eve, "role", "assignment", "list", "-f", "json"))
    assert [(a["User"], a["Role"], a["Domain"]) for a in assignments] == [
        (scene.eve, "admin", scene.east)
    ]

    # The victim still logs in as before; eve holds nothing on the admin project.
    login(stack, scene.victim.user, scene.victim.password, scene.victim.project).client.close()
    held = as_json(
        openstack(stack, "role", "assignment", "list", "--user", scene.eve, "-f", "json")
    )
    assert [(a["Role"], a["Domain"], a["Project"]) for a in held] == [("admin", scene.east, "")]


def test_a_domain_admin_still_manages_its_own_domain_with_the_cli(
    stack: Stack, scene: Scene
) -> None:
    eve, east = scene.eve_cli, scene.east
    suffix = uuid.uuid4().hex[:8]
    project, user = f"east-q-{suffix}", f"eli-{suffix}"
    made = as_json(openstack(eve, "project", "create", project, "-f", "json"))
    assert made["domain_id"] == east  # its own domain, unasked
    created = as_json(openstack(eve, "user", "create", "--password", "first", user, "-f", "json"))
    assert created["domain_id"] == east
    where = ["--user", user, "--user-domain", east, "--project", project, "--project-domain", east]
    ok(openstack(eve, "role", "add", *where, "member"))
    listed = as_json(openstack(eve, "role", "assignment", "list", *where, "--names", "-f", "json"))
    assert [a["Role"] for a in listed] == ["member"]
    ok(openstack(eve, "user", "set", "--password", "reset", user))
    domain_name = as_json(openstack(eve, "domain", "show", east, "-f", "json"))["name"]
    assert login_in(stack, user, "reset", project, domain_name)
    ok(openstack(eve, "role", "remove", *where, "member"))
    ok(openstack(eve, "user", "delete", user))
    ok(openstack(eve, "project", "delete", project))


def test_the_admin_role_on_its_own_project_reaches_no_other_tenant(
    stack: Stack, scene: Scene, tmp_path: Path
) -> None:
    east = scene.east
    own = ["--project", scene.project, "--project-domain", east]
    ok(openstack(scene.eve_cli, "role", "add", "--user", scene.eve, *own, "admin"))
    eve = _cli_as(
        stack,
        tmp_path / "project",
        user_id=scene.eve,
        password="pw",
        project_name=scene.project,
        project_domain_id=east,
    )
    before = last_notification_id(stack)
    assert "403" in _refused(openstack(eve, "server", "list", "--all-projects"))
    assert "403" in _refused(openstack(eve, "hypervisor", "list"))
    assert "403" in _refused(openstack(eve, "user", "list"))
    saved = tmp_path / "stolen.img"
    _refused(openstack(eve, "image", "save", "--file", str(saved), scene.private_image))
    assert not saved.exists()
    assert as_json(openstack(eve, "server", "list", "-f", "json")) == []  # its own: none
    token = as_json(openstack(eve, "token", "issue", "-f", "json"))["id"]
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        headers = {"X-Auth-Token": token}
        assert client.get("/audit", headers=headers).status_code == 403
        image = f"/image/v2/images/{scene.private_image}/file"
        assert client.get(image, headers=headers).status_code == 404
    assert last_notification_id(stack) == before


def test_the_system_scope_is_the_admin_projects_and_not_a_domain_admins(
    stack: Stack, scene: Scene, tmp_path: Path
) -> None:
    admin = _cli_as(
        stack,
        tmp_path / "admin",
        username="admin",
        password=stack.admin_password,
        user_domain_name="Default",
        system_scope="all",
    )
    users = {u["Name"] for u in as_json(openstack(admin, "user", "list", "-f", "json"))}
    assert {"admin", scene.victim.user} <= users
    domains = as_json(openstack(admin, "domain", "list", "-f", "json"))
    assert scene.east in {d["ID"] for d in domains}
    eve = _cli_as(stack, tmp_path / "eve", user_id=scene.eve, password="pw", system_scope="all")
    _refused(openstack(eve, "token", "issue"))
