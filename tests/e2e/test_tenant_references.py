"""A hostile tenant with the unmodified `openstack` client (issue 19, parts
3 and 4): it cannot make a boot use another project's private kernel (not
through its own image, not through a snapshot's metadata), cannot store
Glance's reserved properties through a snapshot, learns nothing of the
host from a failed build, and cannot tell another project's private image,
server or project from an id that names nothing. Where the client cannot
send the request (a JSON-patch of the wrong type, a usage marker), httpx
sends it as the tenant."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import (
    COMPUTE,
    Member,
    Session,
    Stack,
    create_member,
    login,
    wait_for,
)
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack, status_of

pytestmark = pytest.mark.e2e

IMAGES = "/image/v2/images"
BOOT = ("server", "create", "--flavor", "m1.tiny", "--nic", "none")
UUIDS = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@dataclass(frozen=True)
class Tenant:
    """A member of a project of its own, with the CLI logged in as it."""

    cli: Stack
    member: Member
    project_id: str


@pytest.fixture(scope="module")
def tenants(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tenant]:
    made = {}
    for role in ("victim", "attacker"):
        member = create_member(stack, role)
        where = tmp_path_factory.mktemp(role)
        clouds_yaml_for(stack, where, member.user, member.password, member.project)
        project = as_json(openstack(stack, "project", "show", "-f", "json", member.project))["id"]
        made[role] = Tenant(replace(stack, state_dir=where), member, project)
    return made


@pytest.fixture
def attacker_http(stack: Stack, tenants: dict[str, Tenant]) -> Iterator[Session]:
    member = tenants["attacker"].member
    session = login(stack, member.user, member.password, member.project)
    yield session
    session.client.close()


def _name(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


def _image(who: Stack, *options: str) -> str:
    made = as_json(openstack(who, "image", "create", *options, "-f", "json", _name("img")))
    return str(made["id"])


def _kernel(
    who: Stack, visibility: str = "--private", disk_format: str = "aki", *options: str
) -> str:
    formats = ("--disk-format", disk_format, "--container-format", disk_format)
    return _image(who, *formats, visibility, *options)


def _refusal(result: subprocess.CompletedProcess[str], status: str) -> str:
    """The error the client shows, with ids blanked (request ids differ)."""
    assert result.returncode != 0, result.stdout
    assert status in result.stderr, result.stderr
    return UUIDS.sub("<id>", result.stderr.replace("-", ""))


QCOW2 = ("--disk-format", "qcow2")  # uploads are inspected against what they declare


def _disk(tmp_path: Path) -> Path:
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    return disk


def _server_names(who: Stack) -> set[str]:
    return {s["Name"] for s in as_json(openstack(who, "server", "list", "-f", "json"))}


# --- part 3: kernels and ramdisks of other projects --------------------------------------


def test_an_image_cannot_name_another_projects_private_kernel(
    stack: Stack, tenants: dict[str, Tenant]
) -> None:
    victim, attacker = tenants["victim"].cli, tenants["attacker"].cli
    hidden = _kernel(victim)
    for key in ("kernel_id", "ramdisk_id"):
        seen = openstack(attacker, "image", "create", "--property", f"{key}={hidden}", _name("x"))
        never = openstack(
            attacker, "image", "create", "--property", f"{key}={uuid.uuid4()}", _name("x")
        )
        assert _refusal(seen, "400") == _refusal(never, "400")  # unknown and invisible alike
    mine = _image(attacker)
    patched = openstack(attacker, "image", "set", "--property", f"kernel_id={hidden}", mine)
    assert _refusal(patched, "400")
    shown = as_json(openstack(attacker, "image", "show", "-f", "json", mine))
    assert "kernel_id" not in shown["properties"]
    # A public kernel, and one shared with the attacker, may be named.
    public = _kernel(stack, "--public")
    shared = _kernel(victim, "--shared", "ari")
    ok(openstack(victim, "image", "add", "project", shared, tenants["attacker"].project_id))
    ok(openstack(attacker, "image", "set", "--accept", shared))
    ok(openstack(attacker, "image", "set", "--property", f"kernel_id={public}", mine))
    ok(openstack(attacker, "image", "set", "--property", f"ramdisk_id={shared}", mine))


def test_a_boot_may_not_use_a_kernel_the_booting_project_cannot_see(
    stack: Stack, tenants: dict[str, Tenant], tmp_path: Path
) -> None:
    """A public image naming its owner's private kernel, and the attacker's
    own image naming a kernel whose sharing was revoked: each boot is
    refused with 400 before anything reaches a host."""
    attacker, victim = tenants["attacker"].cli, tenants["victim"].cli
    disk = _disk(tmp_path)
    private = _kernel(stack)
    public = _image(
        stack, "--public", *QCOW2, "--file", str(disk), "--property", f"kernel_id={private}"
    )
    revoked = _kernel(victim, "--shared")
    ok(openstack(victim, "image", "add", "project", revoked, tenants["attacker"].project_id))
    ok(openstack(attacker, "image", "set", "--accept", revoked))
    own = _image(attacker, *QCOW2, "--file", str(disk), "--property", f"kernel_id={revoked}")
    ok(openstack(victim, "image", "remove", "project", revoked, tenants["attacker"].project_id))
    for image in (public, own):
        name = _name("vm")
        refused = openstack(attacker, *BOOT, "--image", image, name)
        assert "could not be found" in _refusal(refused, "400")
        assert name not in _server_names(attacker)


def test_a_boot_of_a_public_kernel_and_an_accepted_shared_ramdisk_goes_through(
    stack: Stack, tenants: dict[str, Tenant], tmp_path: Path
) -> None:
    attacker, victim = tenants["attacker"].cli, tenants["victim"].cli
    blob = tmp_path / "kernel.bin"
    blob.write_bytes(b"\0" * 4096)
    with_data = ("--file", str(blob))
    kernel = _kernel(stack, "--public", "aki", *with_data)
    ramdisk = _kernel(victim, "--shared", "ari", *with_data)
    ok(openstack(victim, "image", "add", "project", ramdisk, tenants["attacker"].project_id))
    ok(openstack(attacker, "image", "set", "--accept", ramdisk))
    refs = ("--property", f"kernel_id={kernel}", "--property", f"ramdisk_id={ramdisk}")
    machine = _image(attacker, *QCOW2, "--file", str(_disk(tmp_path)), *refs)
    name = _name("vm")
    server = as_json(openstack(attacker, *BOOT, "--image", machine, "--wait", "-f", "json", name))
    assert server["status"] == "ACTIVE"
    ok(openstack(attacker, "server", "delete", "--wait", name))


@pytest.fixture(scope="module")
def attackers_server(tenants: dict[str, Tenant]) -> Iterator[str]:
    attacker = tenants["attacker"].cli
    name = _name("vm")
    ok(openstack(attacker, *BOOT, "--image", "tiny-qcow2", "--wait", name))
    yield name
    ok(openstack(attacker, "server", "delete", "--wait", name))


def test_a_snapshot_cannot_name_another_projects_private_kernel(
    tenants: dict[str, Tenant], attackers_server: str
) -> None:
    attacker = tenants["attacker"].cli
    hidden = _kernel(tenants["victim"].cli)
    names = [_name("snap"), _name("snap")]
    seen, never = (
        openstack(attacker, "server", "image", "create", "--name", name,
                  "--property", f"kernel_id={ref}", attackers_server)
        for name, ref in zip(names, (hidden, str(uuid.uuid4())), strict=True)
    )  # fmt: skip
    assert _refusal(seen, "400") == _refusal(never, "400")
    listed = {i["Name"] for i in as_json(openstack(attacker, "image", "list", "-f", "json"))}
    assert not listed & set(names)


# --- part 4: snapshot metadata, faults, the 500, the oracles --------------------------------


@pytest.mark.parametrize(
    "prop",
    ["os_glance_injected=1", "direct_url=file:///etc/passwd", "locations=[]", "deleted=True"],
)
def test_snapshot_metadata_obeys_glances_reserved_properties(
    tenants: dict[str, Tenant], attackers_server: str, prop: str
) -> None:
    attacker = tenants["attacker"].cli
    name = _name("snap")
    refused = openstack(
        attacker, "server", "image", "create", "--name", name, "--property", prop, attackers_server
    )
    assert _refusal(refused, "403")
    listed = {i["Name"] for i in as_json(openstack(attacker, "image", "list", "-f", "json"))}
    assert name not in listed


def test_a_failed_build_tells_the_owner_the_step_and_only_admins_the_hosts_error(
    stack: Stack, tenants: dict[str, Tenant], tmp_path: Path
) -> None:
    attacker = tenants["attacker"].cli
    image = _image(
        attacker, *QCOW2, "--file", str(_disk(tmp_path)), "--property", "hw_firmware_type=bogus"
    )
    name = _name("vm")
    failed = openstack(attacker, *BOOT, "--image", image, "--wait", name)
    assert failed.returncode != 0
    seen = as_json(openstack(attacker, "server", "show", "-f", "json", name))
    assert seen["status"] == "ERROR"
    fault = seen["fault"]
    assert fault["message"] == "Build failed" and fault["code"] == 500
    assert "details" not in fault
    told = json.dumps(seen)
    assert "bogus" not in told and str(stack.state_dir) not in told
    assert "compute-1" not in told and "compute-2" not in told
    as_admin = as_json(openstack(stack, "server", "show", "-f", "json", seen["id"]))
    assert "hw_firmware_type 'bogus'" in as_admin["fault"]["details"]
    ok(openstack(attacker, "server", "delete", "--wait", name))


def test_a_servers_console_names_none_of_its_hosts(tenants: dict[str, Tenant]) -> None:
    """The API shows a server's host to admins only; its console log, which
    its owner reads, said "started on compute-1" (and so did a resize)."""
    attacker = tenants["attacker"].cli
    name = _name("vm")
    ok(openstack(attacker, *BOOT, "--image", "tiny-qcow2", "--wait", name))
    ok(openstack(attacker, "server", "resize", "--flavor", "m1.small", "--wait", name))
    ok(openstack(attacker, "server", "resize", "revert", name))
    wait_for(lambda: status_of(attacker, name) == "ACTIVE", timeout=30, what=f"{name} reverted")
    log = ok(openstack(attacker, "console", "log", "show", name))
    assert "compute-1" not in log and "compute-2" not in log
    assert "started" in log and "left its host" in log and "reverted" in log
    ok(openstack(attacker, "server", "delete", "--wait", name))


WRONG_TYPES = [["public"], {"a": "public"}, [], {}, None, 7, 1.5, True, [[["deep"]]]]
PATCHABLE = [
    "/visibility",
    "/name",
    "/disk_format",
    "/container_format",
    "/min_disk",
    "/min_ram",
    "/protected",
    "/os_hidden",
    "/tags",
    "/owner",
    "/some_property",
    "/kernel_id",
]


def test_a_patch_of_any_property_with_a_wrong_json_type_is_a_4xx_and_changes_nothing(
    attacker_http: Session,
) -> None:
    made = attacker_http.client.post(IMAGES, json={"name": _name("p"), "visibility": "private"})
    assert made.status_code == 201, made.text
    image = made.json()
    url = f"{IMAGES}/{image['id']}"
    headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    for path in PATCHABLE:
        for value in WRONG_TYPES:
            if path == "/name" and value is None:
                continue  # Glance takes a null name (none)
            if path in ("/protected", "/os_hidden") and isinstance(value, bool):
                continue
            if path in ("/min_disk", "/min_ram") and type(value) is int:
                continue
            if path == "/tags" and value in (["public"], []):
                continue  # a list of strings is what tags are
            doc = [{"op": "add", "path": path, "value": value}]
            answer = attacker_http.client.patch(url, content=json.dumps(doc), headers=headers)
            assert answer.status_code in (400, 403), (path, value, answer.status_code, answer.text)
    after = attacker_http.client.get(url).json()
    assert after == image


def test_a_usage_marker_of_another_projects_server_is_answered_as_unknown(
    attacker_http: Session, booted: dict[str, Any]
) -> None:
    """``booted`` is a server of another project (the member_session's)."""
    url = f"{COMPUTE}/os-simple-tenant-usage/{attacker_http.project_id}"
    headers = {"OpenStack-API-Version": "compute 2.40"}
    answers = [
        attacker_http.client.get(url, params={"marker": marker}, headers=headers)
        for marker in (booted["id"], str(uuid.uuid4()))
    ]
    assert [a.status_code for a in answers] == [400, 400], [a.text for a in answers]
    seen, never = (a.json()["badRequest"]["message"] for a in answers)
    assert seen.replace(booted["id"], "<id>") == UUIDS.sub("<id>", never)


def test_an_image_list_marker_of_another_projects_private_image_is_answered_as_unknown(
    attacker_http: Session, tenants: dict[str, Tenant]
) -> None:
    hidden, unknown = _image(tenants["victim"].cli, "--private"), str(uuid.uuid4())
    answers = [attacker_http.client.get(IMAGES, params={"marker": m}) for m in (hidden, unknown)]
    assert [a.status_code for a in answers] == [400, 400], [a.text for a in answers]
    seen, never = (a.json()["badRequest"]["message"] for a in answers)
    assert seen.replace(hidden, "<id>") == never.replace(unknown, "<id>")


def test_image_members_do_not_tell_a_tenant_which_projects_exist(
    tenants: dict[str, Tenant],
) -> None:
    attacker = tenants["attacker"].cli
    image = _image(attacker, "--shared")
    for project in (tenants["victim"].project_id, uuid.uuid4().hex):
        ok(openstack(attacker, "image", "add", "project", image, project))
    members = as_json(openstack(attacker, "image", "member", "list", "-f", "json", image))
    assert len(members) == 2
