"""What operators ask the unmodified `openstack` client about the cloud:
hypervisors, compute services (alive by heartbeat), availability zones."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from e2e.helpers import Stack, create_member, wait_for
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack, status_of

pytestmark = pytest.mark.e2e


def test_hypervisors_services_and_zones(stack: Stack) -> None:
    hypervisors = as_json(openstack(stack, "hypervisor", "list", "-f", "json"))
    assert hypervisors and all(h["State"] == "up" for h in hypervisors)
    name = hypervisors[0]["Hypervisor Hostname"]
    shown = as_json(openstack(stack, "hypervisor", "show", name, "-f", "json"))
    assert shown["vcpus"] > 0 and shown["memory_mb"] > 0 and shown["status"] == "enabled"
    stats = as_json(openstack(stack, "hypervisor", "stats", "show", "-f", "json"))
    assert stats["count"] == len(hypervisors)

    services = as_json(openstack(stack, "compute", "service", "list", "-f", "json"))
    assert {(s["Binary"], s["State"]) for s in services} == {
        ("nova-scheduler", "up"),
        ("nova-compute", "up"),
    }
    assert {s["Host"] for s in services if s["Binary"] == "nova-compute"} == {
        h["Hypervisor Hostname"] for h in hypervisors
    }
    ok(openstack(stack, "compute", "service", "set", "--disable", name, "nova-compute"))

    def status() -> str:
        listed = as_json(openstack(stack, "compute", "service", "list", "-f", "json"))
        return next(s["Status"] for s in listed if s["Host"] == name)

    assert status() == "disabled"
    ok(openstack(stack, "compute", "service", "set", "--enable", name, "nova-compute"))
    wait_for(lambda: status() == "enabled", 10, "the host enabled again")

    zones = as_json(openstack(stack, "availability", "zone", "list", "--compute", "-f", "json"))
    assert {(z["Zone Name"], z["Zone Status"]) for z in zones} == {
        ("internal", "available"),  # the scheduler's, shown to admins
        ("nova", "available"),
    }
    hosts = as_json(
        openstack(stack, "availability", "zone", "list", "--compute", "--long", "-f", "json")
    )
    assert {(z["Zone Name"], z["Host Name"]) for z in hosts if z["Zone Name"] == "nova"} == {
        ("nova", h["Hypervisor Hostname"]) for h in hypervisors
    }


def test_an_aggregate_gives_its_hosts_a_zone(stack: Stack) -> None:
    name = f"agg-{uuid.uuid4().hex[:8]}"
    host = as_json(openstack(stack, "hypervisor", "list", "-f", "json"))[0]["Hypervisor Hostname"]
    made = as_json(
        openstack(stack, "aggregate", "create", "--zone", f"zone-{name}", name, "-f", "json")
    )
    assert made["availability_zone"] == f"zone-{name}"
    ok(openstack(stack, "aggregate", "add", "host", name, host))
    ok(openstack(stack, "aggregate", "set", "--property", "ssd=true", name))
    shown = as_json(openstack(stack, "aggregate", "show", name, "-f", "json"))
    assert shown["hosts"] == [host] and shown["properties"]["ssd"] == "true"
    services = as_json(openstack(stack, "compute", "service", "list", "-f", "json"))
    assert next(s["Zone"] for s in services if s["Host"] == host) == f"zone-{name}"
    busy = openstack(stack, "aggregate", "delete", name)
    assert busy.returncode != 0  # it still has a host
    ok(openstack(stack, "aggregate", "remove", "host", name, host))
    ok(openstack(stack, "aggregate", "delete", name))
    assert name not in {
        a["Name"] for a in as_json(openstack(stack, "aggregate", "list", "-f", "json"))
    }


def test_usage_of_a_project_comes_from_its_servers_lives(stack: Stack) -> None:
    name = f"use-{uuid.uuid4().hex[:8]}"
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2", "--nic", "none"]
    server = as_json(openstack(stack, *boot, "--wait", "-f", "json", name))
    project = server["project_id"]
    time.sleep(1.0)
    shown = as_json(openstack(stack, "usage", "show", "--project", project, "-f", "json"))
    mine = [s for s in shown["Servers"] if s["instance_id"] == server["id"]]
    assert len(mine) == 1 and mine[0]["state"] == "active"
    # Up to now, not to the client's default end (tomorrow), as Nova would.
    assert 0 < mine[0]["hours"] < 60 / 3600
    assert (mine[0]["vcpus"], mine[0]["memory_mb"], mine[0]["flavor"]) == (1, 512, "m1.tiny")
    assert float(shown["CPU Hours"]) >= mine[0]["hours"]
    listed = as_json(openstack(stack, "usage", "list", "-f", "json"))
    assert project in {u["Project"] for u in listed}
    ok(openstack(stack, "server", "delete", "--wait", name))


def test_a_boot_lands_in_the_zone_it_asks_for_and_an_admin_may_name_the_host(
    stack: Stack, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    aggregate, zone = f"agg-{suffix}", f"zone-{suffix}"
    hosts = sorted(
        h["Hypervisor Hostname"]
        for h in as_json(openstack(stack, "hypervisor", "list", "-f", "json"))
    )
    zoned, other = hosts[-1], hosts[0]
    ok(openstack(stack, "aggregate", "create", "--zone", zone, aggregate))
    ok(openstack(stack, "aggregate", "add", "host", aggregate, zoned))
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2", "--nic", "none"]
    names = [f"{kind}-{suffix}" for kind in ("zoned", "forced", "refused")]
    try:
        for _ in range(2):  # whatever the free RAM says, the zone holds
            server = as_json(
                openstack(
                    stack, *boot, "--availability-zone", zone, "--wait", "-f", "json", names[0]
                )
            )
            assert server["OS-EXT-SRV-ATTR:host"] == zoned
            assert server["OS-EXT-AZ:availability_zone"] == zone
            ok(openstack(stack, "server", "delete", "--wait", names[0]))

        forced = as_json(
            openstack(stack, *boot, "--availability-zone", f"nova:{other}", "--wait", "-f", "json",
                      names[1])
        )  # fmt: skip
        assert (forced["OS-EXT-SRV-ATTR:host"], forced["status"]) == (other, "ACTIVE")
        assert forced["OS-EXT-AZ:availability_zone"] == "nova"

        unknown = openstack(stack, *boot, "--availability-zone", f"none-{suffix}", names[2])
        assert unknown.returncode != 0 and "400" in unknown.stderr
        member = create_member(stack, "zone")
        clouds_yaml_for(stack, tmp_path, member.user, member.password, member.project)
        tenant = replace(stack, state_dir=tmp_path)
        refused = openstack(tenant, *boot, "--availability-zone", f"nova:{other}", names[2])
        assert refused.returncode != 0 and "403" in refused.stderr
    finally:
        for name in names[:2]:
            openstack(stack, "server", "delete", "--wait", name)
        ok(openstack(stack, "aggregate", "remove", "host", aggregate, zoned))
        ok(openstack(stack, "aggregate", "delete", aggregate))


def test_an_image_for_another_cpu_finds_no_host(stack: Stack, tmp_path: Path) -> None:
    name = f"arm-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "arm.img"
    data.write_bytes(b"\0" * 1024)
    ok(openstack(stack, "image", "create", "--file", str(data), "--disk-format", "raw",
                 "--property", "hw_architecture=aarch64", name))  # fmt: skip
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", name, "--nic", "none"]
    ok(openstack(stack, *boot, name))
    wait_for(lambda: status_of(stack, name) == "ERROR", timeout=20, what=f"{name} refused")
    fault = as_json(openstack(stack, "server", "show", name, "-f", "json"))["fault"]
    assert "No valid host" in str(fault)
    ok(openstack(stack, "server", "delete", "--wait", name))
    ok(openstack(stack, "image", "delete", name))


def _services(stack: Stack, *options: str) -> dict[str, dict[str, object]]:
    listed = as_json(
        openstack(stack, *options, "compute", "service", "list", "--long", "-f", "json")
    )
    return {s["Host"]: s for s in listed if s["Binary"] == "nova-compute"}


def test_a_host_disabled_with_a_reason_then_forced_down_takes_no_boot(stack: Stack) -> None:
    v211 = ("--os-compute-api-version", "2.11")
    hosts = sorted(_services(stack))
    assert len(hosts) == 2
    down, other = hosts
    service_set = ("compute", "service", "set")
    try:
        reason = ("--disable-reason", "maintenance")
        ok(openstack(stack, *service_set, "--disable", *reason, down, "nova-compute"))
        shown = _services(stack)[down]
        assert (shown["Status"], shown["Disabled Reason"]) == ("disabled", "maintenance")
        ok(openstack(stack, *service_set, "--enable", down, "nova-compute"))
        shown = _services(stack)[down]
        assert (shown["Status"], shown["Disabled Reason"]) == ("enabled", None)

        ok(openstack(stack, *v211, *service_set, "--down", down, "nova-compute"))
        listed = _services(stack, *v211)
        assert (listed[down]["State"], listed[down]["Forced Down"]) == ("down", True)
        assert (listed[other]["State"], listed[other]["Forced Down"]) == ("up", False)
        # Two boots: the spread weigher would send the second to the emptier
        # host, so both landing on the other one shows the forced-down is skipped.
        name = f"fd-{uuid.uuid4().hex[:8]}"
        boot = ["server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2", "--nic", "none"]
        for n in range(2):
            server = as_json(openstack(stack, *boot, "--wait", "-f", "json", f"{name}-{n}"))
            assert server["OS-EXT-SRV-ATTR:host"] == other
        for n in range(2):
            ok(openstack(stack, "server", "delete", "--wait", f"{name}-{n}"))
    finally:
        openstack(stack, *v211, *service_set, "--up", down, "nova-compute")
        openstack(stack, *service_set, "--enable", down, "nova-compute")
    listed = _services(stack, *v211)
    assert (listed[down]["State"], listed[down]["Forced Down"]) == ("up", False)
