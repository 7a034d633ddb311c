"""Image metadata as the unmodified `openstack` client manages it: properties
and tags (the JSON-patch), visibility and members, deactivation, and lists
filtered, sorted and paged."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import Member, Stack, create_member
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack

pytestmark = pytest.mark.e2e


def _as(stack: Stack, where: Path, who: Member) -> Stack:
    """The same stack, with the CLI logged in as ``who``."""
    where.mkdir()
    clouds_yaml_for(stack, where, who.user, who.password, who.project)
    return replace(stack, state_dir=where)


def _show(stack: Stack, image: str) -> Any:
    return as_json(openstack(stack, "image", "show", "-f", "json", image))


def _disk(tmp_path: Path) -> Path:
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    return disk


def test_image_set_and_unset_properties_and_tags(stack: Stack) -> None:
    name = f"meta-{uuid.uuid4().hex[:8]}"
    image = as_json(
        openstack(stack, "image", "create", "--property", "os_distro=cirros", "-f", "json", name)
    )
    ok(openstack(stack, "image", "set", "--property", "os_version=0.6", "--property", "a=b", name))
    shown = _show(stack, image["id"])
    assert shown["properties"]["os_distro"] == "cirros"
    assert shown["properties"]["os_version"] == "0.6"
    assert shown["properties"]["a"] == "b"
    ok(openstack(stack, "image", "unset", "--property", "a", name))
    assert "a" not in _show(stack, name)["properties"]
    ok(openstack(stack, "image", "set", "--tag", "t1", "--tag", "t2", name))
    assert sorted(_show(stack, name)["tags"]) == ["t1", "t2"]
    ok(openstack(stack, "image", "unset", "--tag", "t1", name))
    assert _show(stack, name)["tags"] == ["t2"]
    ok(openstack(stack, "image", "set", "--name", f"{name}-renamed", "--min-ram", "64", name))
    renamed = _show(stack, image["id"])
    assert (renamed["name"], renamed["min_ram"]) == (f"{name}-renamed", 64)


def test_image_set_public_is_for_admins(stack: Stack, tmp_path: Path) -> None:
    member = _as(stack, tmp_path / "member", create_member(stack, "img-pub"))
    name = f"pub-{uuid.uuid4().hex[:8]}"
    ok(openstack(member, "image", "create", "--private", name))
    refused = openstack(member, "image", "set", "--public", name)
    assert refused.returncode != 0 and "403" in refused.stderr
    assert _show(member, name)["visibility"] == "private"
    ok(openstack(member, "image", "set", "--community", name))  # Glance: the owner may
    image_id = _show(member, name)["id"]
    ok(openstack(stack, "image", "set", "--public", image_id))
    assert _show(stack, image_id)["visibility"] == "public"


def test_image_members_accept_a_shared_image(stack: Stack, tmp_path: Path) -> None:
    owner_member = create_member(stack, "img-own")
    guest_member = create_member(stack, "img-guest")
    owner = _as(stack, tmp_path / "owner", owner_member)
    guest = _as(stack, tmp_path / "guest", guest_member)
    outsider = _as(stack, tmp_path / "outsider", create_member(stack, "img-out"))
    name = f"shared-{uuid.uuid4().hex[:8]}"
    image_id = as_json(openstack(owner, "image", "create", "--shared", "-f", "json", name))["id"]
    guest_project = as_json(
        openstack(stack, "project", "show", "-f", "json", guest_member.project)
    )["id"]

    ok(openstack(owner, "image", "add", "project", image_id, guest_project))
    members = as_json(openstack(owner, "image", "member", "list", "-f", "json", image_id))
    assert [(m["Member ID"], m["Status"]) for m in members] == [(guest_project, "pending")]
    listed = {i["Name"] for i in as_json(openstack(guest, "image", "list", "-f", "json"))}
    assert name not in listed  # not until accepted
    ok(openstack(guest, "image", "set", "--accept", image_id))
    listed = {i["Name"] for i in as_json(openstack(guest, "image", "list", "-f", "json"))}
    assert name in listed
    assert openstack(outsider, "image", "show", image_id).returncode != 0
    # Only the member answers for itself.
    refused = openstack(owner, "image", "set", "--reject", "--project", guest_project, image_id)
    assert refused.returncode != 0
    ok(openstack(owner, "image", "remove", "project", image_id, guest_project))
    assert openstack(guest, "image", "show", image_id).returncode != 0


def test_a_deactivated_image_is_not_booted_until_reactivated(stack: Stack, tmp_path: Path) -> None:
    name = f"deact-{uuid.uuid4().hex[:8]}"
    disk = _disk(tmp_path)
    ok(openstack(stack, "image", "create", "--file", str(disk), "--disk-format", "qcow2", name))
    ok(openstack(stack, "image", "set", "--deactivate", name))
    assert _show(stack, name)["status"] == "deactivated"
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", name, "--nic", "none"]
    refused = openstack(stack, *boot, f"vm-{name}")
    assert refused.returncode != 0 and "not active" in refused.stderr
    ok(openstack(stack, "image", "set", "--activate", name))
    assert _show(stack, name)["status"] == "active"
    server = as_json(openstack(stack, *boot, "--wait", "-f", "json", f"vm-{name}"))
    assert server["status"] == "ACTIVE"
    ok(openstack(stack, "server", "delete", "--wait", f"vm-{name}"))


def test_image_list_filters_by_property_and_tag_sorted_and_limited(stack: Stack) -> None:
    """The CLI sends ``tag`` and ``limit`` (``?limit=2&tag=...``, seen with
    --debug) and filters ``--property`` and sorts ``--sort`` itself; the
    server's own property filters and sorting are tested over HTTP
    (test_image_metadata_api.py)."""
    mark = uuid.uuid4().hex[:8]
    tag = f"t-{mark}"
    for letter in "cab":
        ok(
            openstack(
                stack,
                "image",
                "create",
                "--property",
                f"batch={mark}",
                "--tag",
                tag,
                f"list-{mark}-{letter}",
            )
        )
    ok(openstack(stack, "image", "create", "--property", f"batch={mark}", f"list-{mark}-untagged"))
    listed = as_json(
        openstack(
            stack,
            "image",
            "list",
            "--property",
            f"batch={mark}",
            "--tag",
            tag,
            "--sort",
            "name:asc",
            "--limit",
            "2",
            "-f",
            "json",
        )
    )
    # The newest two of the tagged batch (b, then a; c is older), sorted by name.
    assert [i["Name"] for i in listed] == [f"list-{mark}-a", f"list-{mark}-b"]
