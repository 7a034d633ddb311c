"""Resize, confirm and revert end to end on real PostgreSQL and Redis: the
relay enqueues, this process runs the scheduler's and both hosts' jobs, each
host on its own libvirt test-driver connection with real qcow2 disks."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import libvirt
import pytest
from helpers import (
    HUGE,
    SMALL,
    TINY,
    Cloud,
    RelayRig,
    build_cloud,
    build_relay,
    es_env,
    follower_for,
    hosts_projector,
    rows,
    run_burst,
    store_fetcher,
)

from commands.catalog import CreateFlavor
from commands.servers import BootServer
from domain.errors import InvalidInput, InvalidTransition, QuotaExceeded
from domain.values import SYSTEM, PowerState, TaskState, VmState
from projections.bootstrap import Projector, build_view
from projections.hosts import HostsView
from projections.usage import UsageView, as_interval, intervals
from workers import runtime
from workers.drivers.disks import QemuImgDiskStore
from workers.drivers.hypervisor import LibvirtHypervisor
from workers.drivers.image_cache import DirectoryImageCache
from workers.drivers.test_node import write_test_node
from workers.routes import COMPUTE, SCHEDULER

SOURCE, DEST = "compute-1", "compute-2"
GIB = 1024**3


@dataclass
class Hosts:
    """A cloud whose hosts' jobs run here, each against its own libvirt."""

    cloud: Cloud
    relay: RelayRig
    view: HostsView
    projector: Projector
    computes: dict[str, runtime.ComputeContext]
    redis_url: str
    tmp_path: Path

    def add_host(self, name: str, ram_mb: int) -> None:
        self.cloud.register_host(name, vcpus=8, ram_mb=ram_mb)
        node = write_test_node(self.tmp_path / f"{name}.xml", cpus=8, memory_mb=65536)
        self.computes[name] = runtime.ComputeContext(
            self.cloud.app,
            name,
            LibvirtHypervisor(libvirt.open(node), "test"),
            QemuImgDiskStore(self.tmp_path / name / "disks"),
            store_fetcher(self.cloud),
            DirectoryImageCache(self.tmp_path / name / "disks"),
            transfers=self.tmp_path / "transfers",
        )

    def pump(self) -> None:
        for _ in range(30):
            self.projector.catch_up()
            self.relay.catch_up()
            scheduler = runtime.SchedulerContext(self.cloud.app, self.view)
            ran = run_burst(self.redis_url, [SCHEDULER.queue()], scheduler)
            for name, context in self.computes.items():
                ran = run_burst(self.redis_url, [COMPUTE.queue(name)], context) or ran
            if not ran:
                return
        pytest.fail("jobs kept coming")

    def domain(self, host: str, iid: UUID) -> dict[str, object] | None:
        found = self.computes[host].hypervisor.get(f"instance-{iid}")
        return None if found is None else found.__dict__

    def stash(self, host: str, iid: UUID) -> Path:
        return self.tmp_path / host / "disks" / "_resize" / str(iid)

    def resize(self, iid: UUID, flavor_id: str) -> None:
        self.cloud.services.resize_server(str(iid), flavor_id, self.cloud.member)

    def claims(self, host: str) -> dict[str, list[int]]:
        return self.cloud.host(host).claims

    def ram_in_use(self) -> int:
        return self.cloud.quota().in_use["ram"]


@pytest.fixture
def hosts(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Hosts]:
    cloud = build_cloud(database_url, tmp_path / "images")
    view, projector = hosts_projector(cloud)
    relay = build_relay(cloud.app, cloud.database_url, redis_url)
    rig = Hosts(cloud, relay, view, projector, {}, redis_url, tmp_path)
    rig.add_host(SOURCE, ram_mb=8192)
    yield rig
    relay.relay.datastore.close()
    view.datastore.close()
    cloud.app.close()


def booted(hosts: Hosts) -> UUID:
    iid = hosts.cloud.boot("vm", flavor_id=TINY)
    hosts.pump()
    assert hosts.cloud.instance(iid).host == SOURCE
    return iid


def _qemu_img_info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", "-U", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    info: dict[str, object] = json.loads(out.stdout)
    return info


def test_resize_to_another_host_holds_both_claims_until_confirmed(hosts: Hosts) -> None:
    iid = booted(hosts)
    hosts.add_host(DEST, ram_mb=16384)  # more free RAM: the scheduler prefers it

    hosts.resize(iid, SMALL)
    assert hosts.ram_in_use() == 2048  # the quota moved at once
    hosts.pump()

    instance = hosts.cloud.instance(iid)
    assert (instance.vm_state, instance.host, instance.flavor.name) == (
        VmState.RESIZED,
        DEST,
        "m1.small",
    )
    assert hosts.domain(DEST, iid) == {
        "name": f"instance-{iid}",
        "uuid": str(iid),
        "running": True,
        "vcpus": 1,
        "memory_mb": 2048,
    }
    assert hosts.domain(SOURCE, iid) is None
    assert hosts.claims(SOURCE) == {str(iid): [1, 512, 1]}
    assert hosts.claims(DEST) == {f"{iid}/resize": [1, 2048, 20]}
    [root] = hosts.computes[DEST].disks.instance_disks(str(iid))
    info = _qemu_img_info(root)
    assert info["virtual-size"] == 20 * GIB and "backing-filename" not in info
    assert hosts.stash(SOURCE, iid).is_dir()  # kept for a revert

    hosts.cloud.services.confirm_resize(str(iid), hosts.cloud.member)
    hosts.pump()

    instance = hosts.cloud.instance(iid)
    assert (instance.vm_state, instance.task_state) == (VmState.ACTIVE, None)
    assert hosts.claims(SOURCE) == {}
    assert hosts.claims(DEST) == {str(iid): [1, 2048, 20]}
    assert not hosts.stash(SOURCE, iid).exists()
    assert instance.stash_host is None
    assert list((hosts.tmp_path / "transfers").iterdir()) == []
    running = rows(hosts.cloud.database_url, "SELECT running_vms FROM hosts ORDER BY name")
    assert [r["running_vms"] for r in running] == [0, 1]


def test_revert_runs_the_old_guest_again_on_its_source(hosts: Hosts) -> None:
    iid = booted(hosts)
    [old_root] = hosts.computes[SOURCE].disks.instance_disks(str(iid))
    hosts.add_host(DEST, ram_mb=16384)
    hosts.resize(iid, SMALL)
    hosts.pump()

    hosts.cloud.services.revert_resize(str(iid), hosts.cloud.member)
    assert hosts.ram_in_use() == 512
    hosts.pump()

    instance = hosts.cloud.instance(iid)
    assert (instance.vm_state, instance.host, instance.flavor.name) == (
        VmState.ACTIVE,
        SOURCE,
        "m1.tiny",
    )
    source_domain = hosts.domain(SOURCE, iid)
    assert source_domain is not None
    assert (source_domain["running"], source_domain["memory_mb"]) == (True, 512)
    assert hosts.domain(DEST, iid) is None
    assert hosts.computes[DEST].disks.instance_disks(str(iid)) == []
    assert hosts.computes[SOURCE].disks.instance_disks(str(iid)) == [old_root]
    assert _qemu_img_info(old_root)["virtual-size"] == 1 * GIB
    assert hosts.claims(SOURCE) == {str(iid): [1, 512, 1]}
    assert hosts.claims(DEST) == {}


def test_a_stopped_server_resized_on_its_own_host_stays_off(hosts: Hosts) -> None:
    iid = booted(hosts)
    hosts.cloud.action("stop", iid)
    hosts.pump()

    hosts.resize(iid, SMALL)
    hosts.pump()

    instance = hosts.cloud.instance(iid)
    assert (instance.vm_state, instance.power_state) == (VmState.RESIZED, PowerState.SHUTDOWN)
    domain = hosts.domain(SOURCE, iid)
    assert domain is not None and (domain["running"], domain["memory_mb"]) == (False, 2048)
    # One host holds both claims while the resize waits.
    assert set(hosts.claims(SOURCE)) == {str(iid), f"{iid}/resize"}

    hosts.cloud.services.revert_resize(str(iid), hosts.cloud.member)
    hosts.pump()

    instance = hosts.cloud.instance(iid)
    assert (instance.vm_state, instance.flavor.name) == (VmState.STOPPED, "m1.tiny")
    domain = hosts.domain(SOURCE, iid)
    assert domain is not None and (domain["running"], domain["memory_mb"]) == (False, 512)
    assert hosts.claims(SOURCE) == {str(iid): [1, 512, 1]}
    assert not hosts.stash(SOURCE, iid).exists()


def test_no_host_for_the_new_flavor_leaves_the_server_as_it_was(hosts: Hosts) -> None:
    iid = booted(hosts)

    hosts.resize(iid, HUGE)
    hosts.pump()

    instance = hosts.cloud.instance(iid)
    assert (instance.vm_state, instance.task_state, instance.flavor.name) == (
        VmState.ACTIVE,
        None,
        "m1.tiny",
    )
    assert hosts.ram_in_use() == 512
    assert hosts.claims(SOURCE) == {str(iid): [1, 512, 1]}
    domain = hosts.domain(SOURCE, iid)
    assert domain is not None and domain["running"]


def test_deleting_a_server_waiting_for_confirmation_cleans_both_hosts(hosts: Hosts) -> None:
    iid = booted(hosts)
    hosts.add_host(DEST, ram_mb=16384)
    hosts.resize(iid, SMALL)
    hosts.pump()

    hosts.cloud.action("delete", iid)
    hosts.pump()

    assert hosts.cloud.instance(iid).vm_state == VmState.DELETED
    for host in (SOURCE, DEST):
        assert hosts.claims(host) == {}
        assert hosts.domain(host, iid) is None
        assert hosts.computes[host].disks.instance_disks(str(iid)) == []
        assert not hosts.stash(host, iid).exists()
    assert hosts.ram_in_use() == 0
    assert hosts.relay.relay.pending() == []


def test_refused_resizes_change_nothing(hosts: Hosts) -> None:
    iid = booted(hosts)
    before = hosts.cloud.last_notification_id()

    with pytest.raises(InvalidInput, match="must change flavor"):
        hosts.resize(iid, TINY)
    hosts.cloud.set_quota(ram=1024)
    after_quota = hosts.cloud.last_notification_id()
    with pytest.raises(QuotaExceeded):
        hosts.resize(iid, SMALL)
    with pytest.raises(InvalidTransition):
        hosts.cloud.services.confirm_resize(str(iid), hosts.cloud.member)

    assert hosts.cloud.last_notification_id() == after_quota > before
    assert hosts.cloud.instance(iid).task_state is None


def test_a_server_mid_resize_refuses_other_actions(hosts: Hosts) -> None:
    iid = booted(hosts)
    hosts.resize(iid, SMALL)  # not pumped: the scheduler has not run yet

    assert hosts.cloud.instance(iid).task_state == TaskState.RESIZE_PREP
    with pytest.raises(InvalidTransition):
        hosts.cloud.action("stop", iid)
    with pytest.raises(InvalidTransition):
        hosts.resize(iid, HUGE)


def test_usage_prices_each_stretch_at_the_flavor_it_ran_with(hosts: Hosts) -> None:
    usage = build_view(UsageView, es_env(hosts.cloud.database_url))
    iid = booted(hosts)
    hosts.resize(iid, SMALL)
    hosts.pump()
    hosts.cloud.services.confirm_resize(str(iid), hosts.cloud.member)
    hosts.cloud.action("stop", iid)
    hosts.pump()
    follower_for(hosts.cloud.app, usage).catch_up()

    found = [
        as_interval(r)
        for r in usage.fetch_all(intervals(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)))
    ]
    usage.datastore.close()

    assert [(i.state, i.flavor_name, i.ram_mb) for i in found] == [
        ("active", "m1.tiny", 512),
        ("resized", "m1.small", 2048),
        ("active", "m1.small", 2048),
        ("stopped", "m1.small", 2048),
    ]
    for earlier, later in itertools.pairwise(found):
        assert earlier.ended_at == later.started_at  # split, never smeared
    assert found[-1].ended_at is None


def _group_member(hosts: Hosts, group: str, name: str) -> UUID:
    cloud = hosts.cloud
    cmd = BootServer(name, TINY, cloud.image_id, "none", group=group)
    iid = cloud.services.boot_server(cmd, cloud.member).id
    hosts.pump()
    return iid


@pytest.mark.parametrize("policy", ["affinity", "anti-affinity"])
def test_a_resize_keeps_its_server_group_policy(hosts: Hosts, policy: str) -> None:
    """The destination, emptier, is what the spread weigher would pick; the
    group's hard policy keeps the resized member on its source instead."""
    group = hosts.cloud.services.create_group("g", policy, hosts.cloud.member).id.hex
    moving = _group_member(hosts, group, "a")
    hosts.add_host(DEST, ram_mb=16384)
    other = _group_member(hosts, group, "b")
    expected_other = SOURCE if policy == "affinity" else DEST
    assert hosts.cloud.instance(other).host == expected_other

    hosts.resize(moving, SMALL)
    hosts.pump()

    instance = hosts.cloud.instance(moving)
    assert (instance.vm_state, instance.host) == (VmState.RESIZED, SOURCE)
    assert set(hosts.claims(SOURCE)) >= {str(moving), f"{moving}/resize"}
    hosts.cloud.services.confirm_resize(str(moving), hosts.cloud.member)
    hosts.pump()
    assert hosts.cloud.instance(moving).host == SOURCE


def test_an_anti_affinity_member_resizes_nowhere_another_member_is(hosts: Hosts) -> None:
    """Only DEST has room for the new flavor, and a member is there."""
    cloud = hosts.cloud
    cloud.services.create_flavor(CreateFlavor("50", "m1.big", 1, 12288, 20), SYSTEM)
    group = cloud.services.create_group("g", "anti-affinity", cloud.member).id.hex
    moving = _group_member(hosts, group, "a")
    hosts.add_host(DEST, ram_mb=16384)
    _group_member(hosts, group, "b")  # on DEST

    hosts.resize(moving, "50")
    hosts.pump()

    instance = cloud.instance(moving)
    assert (instance.vm_state, instance.task_state, instance.flavor.name) == (
        VmState.ACTIVE,
        None,
        "m1.tiny",
    )
    assert not any(key.endswith("/resize") for key in hosts.claims(DEST))
