"""Flavors as the unmodified `openstack` client manages them: properties
(extra specs) and private flavors shared with chosen projects."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from e2e.helpers import Stack, create_member
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack

pytestmark = pytest.mark.e2e


def test_flavor_show_and_properties_set_and_unset(stack: Stack) -> None:
    shown = as_json(openstack(stack, "flavor", "show", "m1.tiny", "-f", "json"))
    assert (shown["name"], shown["vcpus"], shown["ram"], shown["disk"]) == ("m1.tiny", 1, 512, 1)
    suffix = uuid.uuid4().hex[:8]
    name = f"props-{suffix}"
    ok(openstack(stack, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", name))
    ok(
        openstack(
            stack,
            "flavor",
            "set",
            "--property",
            "hw:cpu_policy=dedicated",
            "--property",
            "a=1",
            name,
        )
    )
    properties = as_json(openstack(stack, "flavor", "show", name, "-f", "json"))["properties"]
    assert properties == {"hw:cpu_policy": "dedicated", "a": "1"}
    ok(openstack(stack, "flavor", "unset", "--property", "a", name))
    properties = as_json(openstack(stack, "flavor", "show", name, "-f", "json"))["properties"]
    assert properties == {"hw:cpu_policy": "dedicated"}
    bad = openstack(stack, "flavor", "set", "--property", "bad/key=1", name)
    assert bad.returncode != 0 and "400" in bad.stderr


def test_a_private_flavor_is_seen_and_used_only_by_the_projects_given_it(
    stack: Stack, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    name = f"private-{suffix}"
    args = ["--vcpus", "1", "--ram", "256", "--disk", "1", "--private"]
    ok(openstack(stack, "flavor", "create", *args, name))
    given, other = create_member(stack, "flv-in"), create_member(stack, "flv-out")
    ok(openstack(stack, "flavor", "set", "--project", given.project, name))
    access = as_json(openstack(stack, "flavor", "show", name, "-f", "json"))["access_project_ids"]
    assert len(access) == 1

    def clouds(member_dir: Path, who: object) -> Stack:
        member_dir.mkdir()
        clouds_yaml_for(stack, member_dir, who.user, who.password, who.project)  # type: ignore[attr-defined]
        return replace(stack, state_dir=member_dir)

    inside, outside = clouds(tmp_path / "in", given), clouds(tmp_path / "out", other)
    listed = {f["Name"] for f in as_json(openstack(inside, "flavor", "list", "-f", "json"))}
    assert name in listed
    assert name not in {
        f["Name"] for f in as_json(openstack(outside, "flavor", "list", "-f", "json"))
    }
    boot = ["server", "create", "--flavor", name, "--image", "tiny-qcow2", "--nic", "none"]
    refused = openstack(outside, *boot, f"vm-{suffix}")
    assert refused.returncode != 0
    server = as_json(openstack(inside, *boot, "--wait", "-f", "json", f"vm-{suffix}"))
    assert server["status"] == "ACTIVE"
    ok(openstack(inside, "server", "delete", "--wait", f"vm-{suffix}"))

    ok(openstack(stack, "flavor", "unset", "--project", given.project, name))
    assert name not in {
        f["Name"] for f in as_json(openstack(inside, "flavor", "list", "-f", "json"))
    }
