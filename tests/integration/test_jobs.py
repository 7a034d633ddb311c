"""RQ jobs end to end on real PostgreSQL and Redis: the relay enqueues, a
SimpleWorker runs scheduler and compute jobs in this process against fake
drivers (and once against libvirt's test driver with real qcow2 disks)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from uuid import UUID, uuid4

import libvirt
import pytest
from helpers import (
    HUGE,
    SMALL,
    Cloud,
    RelayRig,
    build_cloud,
    build_relay,
    es_env,
    hosts_projector,
    raced_app,
    rows,
    run_burst,
    store_fetcher,
)
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from commands import compute
from commands.app import CloudApp
from commands.bootstrap import build_app
from domain.faults import GONE_FROM_HOST
from domain.host import ComputeHost
from domain.instance import NO_VALID_HOST, Instance
from domain.values import PowerState, TaskState, VmState
from projections.bootstrap import Projector, build_view, postgres_recorder
from projections.hosts import HostsView
from workers import retries, runtime
from workers.drivers.disks import DiskStore, QemuImgDiskStore
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_disks import FakeDiskStore
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.hypervisor import DomainSpec, Hypervisor, LibvirtHypervisor
from workers.drivers.image_cache import DirectoryImageCache, ImageCache
from workers.drivers.test_node import write_test_node
from workers.jobs import power_sync
from workers.jobs.compute import restore_host
from workers.jobs.domain_spec import spec_for
from workers.jobs.entry import BATCH_JOB_FUNC, execute
from workers.jobs.scheduler import schedule_instances
from workers.routes import COMPUTE, SCHEDULER

HOST = "compute-1"
HOST_QUEUE = COMPUTE.queue(HOST)


@dataclass
class Plant:
    """A cloud with one compute host whose jobs run in this process."""

    cloud: Cloud
    relay: RelayRig
    hosts: HostsView
    projector: Projector
    compute: runtime.ComputeContext
    redis_url: str

    @property
    def hypervisor(self) -> Hypervisor:
        return self.compute.hypervisor

    @property
    def scheduler(self) -> runtime.SchedulerContext:
        return runtime.SchedulerContext(self.cloud.app, self.hosts)

    def work(self, queue: str) -> bool:
        """Run the queue's jobs here, as its worker process would; True if any ran."""
        context = self.scheduler if SCHEDULER.family_of(queue) else self.compute
        return run_burst(self.redis_url, [queue], context)

    def pump(self) -> None:
        """Relay events and run jobs until the pipeline is quiet."""
        for _ in range(20):
            self.projector.catch_up()  # the scheduler ranks hosts from this view
            self.relay.catch_up()
            ran = self.work(SCHEDULER.queue())
            ran = self.work(HOST_QUEUE) or ran
            if not ran:
                return
        pytest.fail("jobs kept coming")

    def batch(self, kind: str, iid: UUID) -> Job:
        """The last batch job that carried this instance's item of this kind."""
        connection = Redis.from_url(self.redis_url)
        found = []
        for key in connection.scan_iter("rq:job:*"):
            job = Job.fetch(key.decode().removeprefix("rq:job:"), connection=connection)
            if job.func_name == BATCH_JOB_FUNC and [kind, str(iid)] in job.args[1]:
                found.append(job)
        assert found, f"no {kind} job for {iid}"
        return max(found, key=lambda j: j.enqueued_at or j.created_at)

    def outcome(self, kind: str, iid: UUID) -> str:
        outcomes = self.batch(kind, iid).return_value()
        assert outcomes is not None, f"the {kind} job for {iid} has not finished"
        return str(outcomes[str(iid)])

    def booted(self, name: str = "vm") -> UUID:
        iid = self.cloud.boot(name)
        self.pump()
        return iid


def _plant(cloud: Cloud, redis_url: str, compute_host: runtime.ComputeContext) -> Iterator[Plant]:
    cloud.register_host(HOST, vcpus=8, ram_mb=8192)
    hosts, projector = hosts_projector(cloud)
    relay = build_relay(cloud.app, cloud.database_url, redis_url)
    yield Plant(cloud, relay, hosts, projector, compute_host, redis_url)
    relay.relay.datastore.close()
    hosts.datastore.close()


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


def _compute(
    cloud: Cloud, hypervisor: Hypervisor, disks: DiskStore, images: ImageCache
) -> runtime.ComputeContext:
    return runtime.ComputeContext(cloud.app, HOST, hypervisor, disks, store_fetcher(cloud), images)


@pytest.fixture
def plant(cloud: Cloud, redis_url: str, tmp_path: Path) -> Iterator[Plant]:
    compute_host = _compute(
        cloud,
        FakeHypervisor(),
        FakeDiskStore(tmp_path / "disks"),
        DirectoryImageCache(tmp_path / "disks"),
    )
    yield from _plant(cloud, redis_url, compute_host)


def _fake(plant: Plant) -> FakeHypervisor:
    assert isinstance(plant.compute.hypervisor, FakeHypervisor)
    return plant.compute.hypervisor


def _assert_released(plant: Plant, iid: UUID) -> None:
    assert str(iid) not in plant.cloud.host(HOST).claims
    assert str(iid) not in plant.cloud.quota().allocations


def test_schedule_picks_the_host_with_most_free_ram_and_claims_it(plant: Plant) -> None:
    plant.cloud.register_host("compute-2", vcpus=2, ram_mb=16384)  # fewer cpus, more RAM
    plant.projector.catch_up()
    iid = plant.cloud.boot()
    plant.relay.catch_up()

    plant.work(SCHEDULER.queue())

    assert plant.outcome("instance.schedule", iid) == "scheduled on compute-2"
    instance = plant.cloud.instance(iid)
    assert (instance.host, instance.task_state) == ("compute-2", TaskState.SPAWNING)
    assert plant.cloud.host("compute-2").claims == {str(iid): [1, 512, 1]}
    assert plant.cloud.host(HOST).claims == {}


def test_a_flavor_no_host_can_fit_fails_with_no_valid_host_and_frees_quota(
    plant: Plant,
) -> None:
    iid = plant.cloud.boot("too-big", flavor_id=HUGE)

    plant.pump()

    instance = plant.cloud.instance(iid)
    assert instance.vm_state == VmState.ERROR
    assert instance.fault is not None and instance.fault["message"] == NO_VALID_HOST
    _assert_released(plant, iid)
    assert plant.relay.relay.pending() == []


def test_a_batch_no_host_can_fit_fails_in_one_save_that_frees_every_quota(
    plant: Plant,
) -> None:
    too_big = [plant.cloud.boot(f"too-big-{n}", flavor_id=HUGE) for n in range(2)]
    before = plant.cloud.last_notification_id()

    plant.pump()

    for iid in too_big:
        assert plant.cloud.instance(iid).vm_state == VmState.ERROR
        _assert_released(plant, iid)
    appended = rows(
        plant.cloud.database_url,
        "SELECT xmin::text AS tx, topic FROM cloudledger_events WHERE notification_id > %s",
        (before,),
    )
    assert sorted(r["topic"].rsplit(":", 1)[1] for r in appended) == [
        *("Instance.Failed", "Instance.Failed", "Quota.Released", "Quota.Released")
    ]
    assert len({r["tx"] for r in appended}) == 1  # one transaction: one save


def test_spawn_makes_the_instance_active_with_a_running_domain_and_disks(plant: Plant) -> None:
    iid = plant.booted()

    assert plant.outcome("instance.spawn", iid) == "active"
    instance = plant.cloud.instance(iid)
    assert (instance.vm_state, instance.task_state) == (VmState.ACTIVE, None)
    assert instance.power_state == PowerState.RUNNING
    domain = plant.hypervisor.get(f"instance-{iid}")
    assert domain is not None and domain.running
    assert (domain.uuid, domain.vcpus, domain.memory_mb) == (str(iid), 1, 512)
    disks = plant.compute.disks.instance_disks(str(iid))
    assert [d.name for d in disks] == ["disk"]
    assert _fake(plant).defined_spec(f"instance-{iid}").disks[0].path == str(disks[0])  # type: ignore[union-attr]
    assert str(iid) in plant.cloud.host(HOST).claims


def test_running_schedule_and_spawn_again_changes_nothing(plant: Plant) -> None:
    iid = plant.booted()
    events, domains = plant.cloud.last_notification_id(), plant.hypervisor.list_domains()

    connection = Redis.from_url(plant.redis_url)
    again = [
        ("scheduler", "instance.schedule", "schedule-again"),
        (HOST_QUEUE, "instance.spawn", "spawn-again"),
    ]
    for queue, kind, job_id in again:
        Queue(queue, connection=connection).enqueue(
            BATCH_JOB_FUNC, queue, [[kind, str(iid)]], job_id=job_id
        )
        plant.work(queue)

    outcomes = [Job.fetch(job_id, connection=connection).return_value() for *_, job_id in again]
    assert outcomes == [
        {str(iid): "skipped"},
        {str(iid): "skipped"},
    ]
    assert plant.cloud.last_notification_id() == events
    assert plant.hypervisor.list_domains() == domains


def test_a_permanent_driver_error_on_spawn_fails_the_build_and_frees_claim_and_quota(
    plant: Plant,
) -> None:
    _fake(plant).fail_next(PermanentDriverError("bridge br-int does not exist"))

    iid = plant.booted()

    instance = plant.cloud.instance(iid)
    assert instance.vm_state == VmState.ERROR
    assert instance.fault is not None
    # The owner is told the step; the host's error is for admins (its details).
    assert instance.fault["message"] == "Build failed"
    assert instance.fault["details"] == "bridge br-int does not exist"
    assert plant.hypervisor.get(f"instance-{iid}") is None
    _assert_released(plant, iid)
    assert plant.relay.relay.pending() == []


def test_a_failed_build_leaves_no_disks_behind_once_its_claim_is_released(
    plant: Plant,
) -> None:
    _fake(plant).fail_next(PermanentDriverError("bridge br-int does not exist"))

    iid = plant.booted()

    assert str(iid) not in plant.cloud.host(HOST).claims
    assert plant.compute.disks.instance_disks(str(iid)) == []


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay re-runs a failed job at once instead of after a second or more."""
    monkeypatch.setattr(retries, "BASE_BACKOFF_SECONDS", 0.0)


def test_a_transient_driver_error_on_spawn_is_retried_by_the_relay(
    plant: Plant, no_backoff: None
) -> None:
    _fake(plant).fail_next(TransientDriverError("libvirt connection reset"))

    iid = plant.booted()

    job = plant.batch("instance.spawn", iid)
    assert job.get_status() == JobStatus.FAILED
    assert plant.cloud.instance(iid).task_state == TaskState.SPAWNING
    assert plant.relay.relay.reconcile() == 1  # still owed: run it again
    plant.pump()
    assert plant.cloud.instance(iid).vm_state == VmState.ACTIVE
    assert plant.outcome("instance.spawn", iid) == "active"
    assert retries.retries_so_far(plant.batch("instance.spawn", iid)) == 1


def test_a_failed_job_waits_longer_after_each_failure(plant: Plant) -> None:
    _fake(plant).fail_next(TransientDriverError("libvirt connection reset"))
    iid = plant.booted()
    job = plant.batch("instance.spawn", iid)
    assert job.ended_at is not None
    failed_at = job.ended_at.timestamp()

    assert not retries.due(job, failed_at + 0.5)
    assert retries.due(job, failed_at + 1.0)
    job.meta[retries.RETRIES_KEY] = 3
    assert not retries.due(job, failed_at + 7.9)
    assert retries.due(job, failed_at + 8.0)
    job.meta[retries.RETRIES_KEY] = 30
    assert retries.due(job, failed_at + retries.MAX_BACKOFF_SECONDS)


def test_transient_errors_on_every_attempt_end_in_error_after_the_last_retry(
    plant: Plant, no_backoff: None
) -> None:
    iid = plant.cloud.boot()
    for _ in range(3):
        _fake(plant).fail_next(TransientDriverError("libvirt connection reset"))
        plant.pump()
        assert plant.cloud.instance(iid).task_state == TaskState.SPAWNING
        assert plant.relay.relay.reconcile() == 1

    _fake(plant).fail_next(TransientDriverError("libvirt connection reset"))
    plant.pump()  # the fourth and last attempt

    instance = plant.cloud.instance(iid)
    assert instance.vm_state == VmState.ERROR
    assert instance.fault is not None and instance.fault["message"] == "Build failed after retries"
    assert plant.outcome("instance.spawn", iid) == "error"
    _assert_released(plant, iid)
    plant.relay.catch_up()
    assert plant.relay.relay.reconcile() == 0  # nothing is owed any more


def test_stop_then_start_powers_the_domain_off_and_on(plant: Plant) -> None:
    iid = plant.booted()

    plant.cloud.action("stop", iid)
    plant.pump()
    stopped = plant.cloud.instance(iid)
    assert (stopped.vm_state, stopped.power_state) == (VmState.STOPPED, PowerState.SHUTDOWN)
    assert plant.hypervisor.get(f"instance-{iid}").running is False  # type: ignore[union-attr]

    plant.cloud.action("start", iid)
    plant.pump()
    started = plant.cloud.instance(iid)
    assert (started.vm_state, started.power_state) == (VmState.ACTIVE, PowerState.RUNNING)
    assert plant.hypervisor.get(f"instance-{iid}").running is True  # type: ignore[union-attr]
    assert plant.relay.relay.pending() == []


def test_delete_removes_domain_and_disks_and_frees_claim_and_quota(plant: Plant) -> None:
    iid = plant.booted()
    other = plant.booted("other")

    plant.cloud.action("delete", iid)
    plant.pump()

    assert plant.cloud.instance(iid).vm_state == VmState.DELETED
    assert plant.hypervisor.get(f"instance-{iid}") is None
    assert plant.compute.disks.instance_disks(str(iid)) == []
    _assert_released(plant, iid)
    assert plant.hypervisor.get(f"instance-{other}") is not None  # untouched
    assert list(plant.cloud.host(HOST).claims) == [str(other)]
    assert plant.relay.relay.pending() == []


def test_restore_host_recreates_running_and_stopped_domains(plant: Plant, tmp_path: Path) -> None:
    running, stopped = plant.booted("running"), plant.booted("stopped")
    plant.cloud.action("stop", stopped)
    plant.pump()
    rebooted = FakeHypervisor()  # the host restarted: libvirt forgot everything
    host = _compute(plant.cloud, rebooted, plant.compute.disks, plant.compute.images)

    claims = [UUID(i) for i in plant.cloud.host(HOST).claims]
    assert restore_host(host, claims) == 2

    assert [(d.name, d.running) for d in rebooted.list_domains()] == sorted(
        [(f"instance-{running}", True), (f"instance-{stopped}", False)]
    )


def test_delete_run_again_changes_nothing(plant: Plant) -> None:
    iid = plant.booted()
    plant.cloud.action("delete", iid)
    plant.pump()
    events = plant.cloud.last_notification_id()

    connection = Redis.from_url(plant.redis_url)
    Queue(HOST_QUEUE, connection=connection).enqueue(
        BATCH_JOB_FUNC, HOST_QUEUE, [["instance.delete", str(iid)]], job_id="delete-again"
    )
    plant.work(HOST_QUEUE)

    assert Job.fetch("delete-again", connection=connection).return_value() == {str(iid): "skipped"}
    assert plant.cloud.last_notification_id() == events


def test_a_claim_that_loses_a_race_on_a_host_with_room_is_retried(plant: Plant) -> None:
    first, second = plant.cloud.boot("first"), plant.cloud.boot("second")
    plant.projector.catch_up()

    def rival_scheduler() -> None:  # claims the host between our load and save
        assert compute.claim_host(plant.cloud.app, second, HOST)

    raced = raced_app(plant.cloud.database_url, ComputeHost, rival_scheduler)
    try:
        outcomes = schedule_instances(runtime.SchedulerContext(raced, plant.hosts), [first])
    finally:
        raced.close()

    assert raced.race is None  # the rival did get in first
    assert set(plant.cloud.host(HOST).claims) == {str(first), str(second)}
    assert outcomes == {str(first): f"scheduled on {HOST}"}
    assert plant.cloud.instance(first).vm_state == VmState.BUILDING


@pytest.fixture
def libvirt_plant(
    cloud: Cloud, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Plant, libvirt.virConnect]]:
    conn = libvirt.open(write_test_node(tmp_path / "node.xml", cpus=8, memory_mb=16384))

    disks = QemuImgDiskStore(tmp_path / "disks")
    compute_host = runtime.ComputeContext(
        cloud.app,
        HOST,
        LibvirtHypervisor(conn, "test"),
        disks,
        store_fetcher(cloud),
        DirectoryImageCache(tmp_path / "disks"),
    )
    for plant in _plant(cloud, redis_url, compute_host):
        yield plant, conn
    conn.close()


def _qemu_img_info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", "-U", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    info: dict[str, object] = json.loads(out.stdout)
    return info


def test_full_lifecycle_on_libvirt_test_driver_with_qcow2_disks(
    libvirt_plant: tuple[Plant, libvirt.virConnect], tmp_path: Path
) -> None:
    plant, conn = libvirt_plant
    iid = plant.cloud.boot("real", flavor_id=SMALL)
    plant.pump()

    assert plant.cloud.instance(iid).vm_state == VmState.ACTIVE
    domain = conn.lookupByName(f"instance-{iid}")
    assert domain.isActive() and domain.UUIDString() == str(iid)
    [root] = plant.compute.disks.instance_disks(str(iid))
    info = _qemu_img_info(root)
    base = tmp_path / "disks" / "_base" / plant.cloud.image_id
    assert (info["format"], info["virtual-size"]) == ("qcow2", 20 * 1024**3)
    assert info["backing-filename"] == str(base.resolve())

    plant.cloud.action("stop", iid)
    plant.pump()
    assert not conn.lookupByName(f"instance-{iid}").isActive()
    plant.cloud.action("start", iid)
    plant.pump()
    assert conn.lookupByName(f"instance-{iid}").isActive()

    plant.cloud.action("delete", iid)
    plant.pump()
    assert plant.cloud.instance(iid).vm_state == VmState.DELETED
    assert conn.listAllDomains(0) == []
    assert plant.compute.disks.instance_disks(str(iid)) == []
    assert base.exists()  # the cached base image stays for the next boot
    _assert_released(plant, iid)


class Killed(BaseException):
    """The worker process dying mid-job (SIGKILL): nothing of the job's own
    exception handling runs."""


class DyingHypervisor(FakeHypervisor):
    """Dies on the n-th domain start, having started the ones before."""

    def __init__(self, die_on: int) -> None:
        super().__init__()
        self.starts, self.die_on = 0, die_on

    def ensure_running(self, spec: DomainSpec) -> None:
        self.starts += 1
        if self.starts == self.die_on:
            raise Killed
        super().ensure_running(spec)


def _scheduled(plant: Plant, count: int) -> list[UUID]:
    iids = [plant.cloud.boot(f"vm-{n}") for n in range(count)]
    plant.projector.catch_up()
    plant.relay.catch_up()
    plant.work(SCHEDULER.queue())
    assert all(plant.cloud.instance(i).task_state == TaskState.SPAWNING for i in iids)
    return iids


def test_a_spawn_batch_killed_half_way_and_run_again_converges(plant: Plant) -> None:
    iids = _scheduled(plant, 4)
    items = [["instance.spawn", str(i)] for i in iids]
    dying = _compute(
        plant.cloud, DyingHypervisor(die_on=3), plant.compute.disks, plant.compute.images
    )
    with pytest.raises(Killed):
        execute(dying, items)
    assert len(dying.hypervisor.list_domains()) == 2  # two started, none recorded
    assert {plant.cloud.instance(i).task_state for i in iids} == {TaskState.SPAWNING}

    restarted = _compute(plant.cloud, dying.hypervisor, plant.compute.disks, plant.compute.images)
    assert execute(restarted, items) == {str(i): "active" for i in iids}

    assert {plant.cloud.instance(i).vm_state for i in iids} == {VmState.ACTIVE}
    assert [d.name for d in dying.hypervisor.list_domains()] == sorted(
        f"instance-{i}" for i in iids
    )
    assert all(len(plant.compute.disks.instance_disks(str(i))) == 1 for i in iids)
    events = plant.cloud.last_notification_id()
    assert execute(restarted, items) == {str(i): "skipped" for i in iids}  # run twice
    assert plant.cloud.last_notification_id() == events


def test_a_delete_batch_frees_every_claim_and_quota_in_one_save(plant: Plant) -> None:
    iids = [plant.booted(f"vm-{n}") for n in range(3)]
    keep = plant.booted("keep")
    for iid in iids:
        plant.cloud.action("delete", iid)
    before = plant.cloud.last_notification_id()
    plant.relay.catch_up()

    assert plant.work(HOST_QUEUE)

    notifications = postgres_recorder(plant.cloud.app).select_notifications(
        start=before + 1, limit=100
    )
    topics = sorted(n.topic.rsplit(".", 1)[1] for n in notifications)
    # Three deletions; three releases on the ONE host and three on the ONE quota.
    assert topics == ["Deleted"] * 3 + ["Released"] * 6
    assert list(plant.cloud.host(HOST).claims) == [str(keep)]
    assert list(plant.cloud.quota().allocations) == [str(keep)]


def test_two_schedulers_racing_over_one_batch_never_overcommit_or_place_twice(
    plant: Plant,
) -> None:
    plant.cloud.register_host("compute-2", vcpus=8, ram_mb=1024)  # room for 3 m1.tiny
    plant.cloud.set_quota(instances=40, cores=40)
    # compute-1 has room for 24 m1.tiny (8 GiB at a RAM ratio of 1.5): 27 in all
    iids = [plant.cloud.boot(f"vm-{n}") for n in range(30)]
    plant.projector.catch_up()
    apps = [build_app(plant.cloud.database_url) for _ in range(2)]
    start = threading.Barrier(2)

    def scheduler(app: CloudApp) -> dict[str, str]:
        view = build_view(HostsView, es_env(plant.cloud.database_url))
        try:
            start.wait()
            return schedule_instances(runtime.SchedulerContext(app, view), iids)
        finally:
            view.datastore.close()

    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(scheduler, apps))
    finally:
        for app in apps:
            app.close()

    for name in (HOST, "compute-2"):
        host = plant.cloud.host(name)
        used, limits = host.used, host.limits
        assert used.vcpus <= limits.vcpus and used.ram_mb <= limits.ram_mb
    claims = [i for name in (HOST, "compute-2") for i in plant.cloud.host(name).claims]
    assert len(claims) == len(set(claims))  # no instance claimed twice
    for iid in iids:
        instance = plant.cloud.instance(iid)
        if str(iid) in claims:
            assert instance.task_state == TaskState.SPAWNING  # placed once, never failed
            assert str(iid) in plant.cloud.host(instance.host or "").claims
        else:
            assert instance.vm_state == VmState.ERROR
    assert len(claims) == 27
    placed = [i for run in outcomes for i, o in run.items() if o.startswith("scheduled")]
    assert sorted(placed) == sorted(claims)  # each placed by exactly one of the two


def test_power_sync_records_a_guest_off_behind_the_ledgers_back_as_stopped(
    plant: Plant,
) -> None:
    off, running, stopping = plant.booted("off"), plant.booted("up"), plant.booted("busy")
    spec = _spec_of(plant, off)
    plant.hypervisor.ensure_stopped(spec)  # its QEMU process was killed
    plant.cloud.action("stop", stopping)  # a task under way: not the sync's business
    plant.hypervisor.ensure_absent(f"instance-{stopping}")
    before = plant.cloud.last_notification_id()

    drift = power_sync.sync_power_states(plant.compute)

    assert (drift.stopped, drift.failed, drift.unknown) == ([off], [], [])
    found = plant.cloud.instance(off)
    assert (found.vm_state, found.power_state, found.task_state) == (
        VmState.STOPPED,
        PowerState.SHUTDOWN,
        None,
    )
    assert found.last_request.user_id == "service:compute"  # a stop of its own
    assert plant.cloud.instance(running).vm_state == VmState.ACTIVE
    assert plant.cloud.instance(stopping).task_state == TaskState.POWERING_OFF
    assert "found not running" in plant.compute.console.tail(str(off), None)
    plant.pump()
    assert power_sync.sync_power_states(plant.compute).stopped == []  # once only
    assert plant.relay.relay.pending() == []  # the stop it recorded owes no job
    assert plant.cloud.last_notification_id() > before

    plant.cloud.action("start", off)  # the owner boots it again
    plant.pump()
    assert plant.cloud.instance(off).vm_state == VmState.ACTIVE
    assert plant.hypervisor.get(f"instance-{off}").running is True  # type: ignore[union-attr]


def _spec_of(plant: Plant, iid: UUID) -> DomainSpec:
    return spec_for(plant.cloud.instance(iid), plant.compute)


def test_power_sync_puts_a_guest_whose_domain_vanished_in_error_with_a_fault(
    plant: Plant,
) -> None:
    gone, running = plant.booted("gone"), plant.booted("up")
    plant.hypervisor.ensure_absent(f"instance-{gone}")  # undefined behind our back

    drift = power_sync.sync_power_states(plant.compute)

    assert (drift.stopped, drift.failed) == ([], [gone])
    found = plant.cloud.instance(gone)
    assert found.vm_state == VmState.ERROR and found.task_state is None
    assert found.fault is not None
    assert found.fault["message"] == GONE_FROM_HOST  # the host is named to admins only
    assert found.fault["details"] == f"the guest's domain vanished from host {found.host}"
    *_, failed = plant.cloud.app.repository.event_store.get(gone)
    assert isinstance(failed, Instance.Failed) and failed.actor.user_id == "service:compute"
    assert plant.cloud.instance(running).vm_state == VmState.ACTIVE
    assert power_sync.sync_power_states(plant.compute).failed == []  # once only


def test_power_sync_reports_a_domain_the_ledger_does_not_know_and_reaps_only_if_told(
    plant: Plant,
) -> None:
    known = plant.booted("known")
    stray_id = uuid4()
    stray = replace(_spec_of(plant, known), name=f"instance-{stray_id}", uuid=str(stray_id))
    plant.hypervisor.ensure_running(stray)
    plant.hypervisor.ensure_running(replace(stray, name="operators-own", uuid=str(uuid4())))
    before = plant.cloud.last_notification_id()

    drift = power_sync.sync_power_states(plant.compute)

    assert drift.unknown == ["instance-" + str(stray_id), "operators-own"]
    assert drift.removed == [] and plant.hypervisor.get(stray.name) is not None
    assert plant.cloud.last_notification_id() == before  # a report, not an event

    reaping = replace(plant.compute, remove_unknown_domains=True)
    drift = power_sync.sync_power_states(reaping)

    assert drift.removed == [stray.name]  # ours only: never the operator's own domain
    assert [d.name for d in plant.hypervisor.list_domains()] == sorted(
        [f"instance-{known}", "operators-own"]
    )
    assert plant.cloud.instance(known).vm_state == VmState.ACTIVE
