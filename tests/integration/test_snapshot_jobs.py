"""createImage through the relay and RQ workers on real PostgreSQL and Redis
(fake hypervisor and disks): the host uploads the root disk, the image's
upload owes the step that ends the instance's task on the scheduler's
queue, and neither step is done twice when it runs again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from helpers import (
    Cloud,
    RelayRig,
    build_cloud,
    build_relay,
    hosts_projector,
    run_burst,
    store_fetcher,
)
from redis import Redis
from rq import Queue

from commands import compute
from domain.instance import Instance
from domain.values import TaskState, VmState
from workers.drivers.errors import PermanentDriverError
from workers.drivers.fake_disks import FakeDiskStore
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.image_cache import DirectoryImageCache
from workers.jobs.entry import BATCH_JOB_FUNC
from workers.resources.instance import COMPUTE, SCHEDULER
from workers.runtime import ComputeContext, SchedulerContext

HOST = "compute-1"


class Uploads:
    """The host's upload through the Image API, done by the commands it calls."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud, self.done = cloud, list[str]()
        self.refuse = False

    def __call__(self, image_id: str, source: Path) -> None:
        if self.refuse:
            raise PermanentDriverError("snapshot upload answered 413")
        assert source.read_text().startswith("snapshot of")  # the exported root disk
        data = b"".join(self.cloud.services.image_store.open(self.cloud.image_id))
        actor = self.cloud.member.as_service("compute")
        self.cloud.services.upload_image(image_id, [data], actor)
        self.done.append(image_id)


class Rig:
    def __init__(self, cloud: Cloud, redis_url: str, tmp_path: Path) -> None:
        cloud.register_host(HOST)
        self.cloud, self.redis_url = cloud, redis_url
        self.hosts, self.projector = hosts_projector(cloud)
        self.relay: RelayRig = build_relay(cloud.app, cloud.database_url, redis_url)
        self.uploads = Uploads(cloud)
        self.compute = ComputeContext(
            cloud.app,
            HOST,
            FakeHypervisor(),
            FakeDiskStore(tmp_path / "disks"),
            store_fetcher(cloud),
            DirectoryImageCache(tmp_path / "disks"),
            upload_image=self.uploads,
        )
        self.scheduler = SchedulerContext(cloud.app, self.hosts)

    def run(self, queue: str) -> bool:
        self.relay.catch_up()
        context = self.scheduler if SCHEDULER.family_of(queue) else self.compute
        return run_burst(self.redis_url, [queue], context)

    def pump(self) -> None:
        for _ in range(20):
            self.projector.catch_up()
            ran = self.run(SCHEDULER.queue())
            if not (self.run(COMPUTE.queue(HOST)) or ran):
                return
        pytest.fail("jobs kept coming")

    def instance(self, iid: UUID) -> Instance:
        return self.cloud.instance(iid)

    def close(self) -> None:
        self.relay.relay.datastore.close()
        self.hosts.datastore.close()


@pytest.fixture
def rig(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Rig]:
    cloud = build_cloud(database_url, tmp_path / "images")
    rig = Rig(cloud, redis_url, tmp_path)
    yield rig
    rig.close()
    cloud.app.close()


def _active(rig: Rig) -> UUID:
    iid = rig.cloud.boot()
    rig.pump()
    assert rig.instance(iid).vm_state == VmState.ACTIVE
    return iid


def _snapshot(rig: Rig, iid: UUID) -> str:
    return str(rig.cloud.services.snapshot_server(str(iid), "snap", {}, rig.cloud.member).id)


def test_the_upload_on_the_host_then_the_end_of_the_task_on_the_scheduler(rig: Rig) -> None:
    iid = _active(rig)
    image_id = _snapshot(rig, iid)

    assert rig.run(COMPUTE.queue(HOST))  # step 1: the host's upload
    assert rig.uploads.done == [image_id]
    assert rig.instance(iid).task_state == TaskState.IMAGE_SNAPSHOT  # not ended by the host

    assert rig.run(SCHEDULER.queue())  # step 2, owed by the image's upload

    instance = rig.instance(iid)
    assert (instance.vm_state, instance.task_state) == (VmState.ACTIVE, None)
    assert rig.cloud.app.repository.get(UUID(image_id)).status == "active"
    rig.relay.catch_up()
    assert rig.relay.relay.pending() == []


def test_the_host_s_step_run_again_after_its_upload_uploads_nothing(rig: Rig) -> None:
    iid = _active(rig)
    image_id = _snapshot(rig, iid)
    rig.run(COMPUTE.queue(HOST))
    # The same item again, as a retry of its batch would bring it before
    # the relay saw the upload: the snapshot is finished, not redone.
    queue = COMPUTE.queue(HOST)
    Queue(queue, connection=Redis.from_url(rig.redis_url)).enqueue(
        BATCH_JOB_FUNC, queue, [["instance.snapshot", str(iid)]], job_id="again"
    )
    run_burst(rig.redis_url, [queue], rig.compute)

    assert rig.uploads.done == [image_id]
    assert rig.instance(iid).task_state is None
    rig.pump()  # the step the upload owed finds nothing left to do
    assert rig.instance(iid).task_state is None


def test_a_snapshot_the_image_api_refuses_leaves_the_server_as_it_was(rig: Rig) -> None:
    iid = _active(rig)
    image_id = _snapshot(rig, iid)
    rig.uploads.refuse = True

    rig.pump()

    instance = rig.instance(iid)
    assert (instance.vm_state, instance.task_state) == (VmState.ACTIVE, None)
    assert rig.cloud.app.repository.get(UUID(image_id)).status == "queued"
    assert rig.relay.relay.pending() == []


def test_a_server_deleted_during_its_snapshot_is_deleted_and_owes_nothing(rig: Rig) -> None:
    iid = _active(rig)
    _snapshot(rig, iid)
    rig.cloud.action("delete", iid)

    rig.pump()

    assert rig.instance(iid).vm_state == VmState.DELETED
    assert rig.relay.relay.pending() == []


def test_a_batch_queued_before_kinds_were_named_by_resource_still_runs(rig: Rig) -> None:
    iid = rig.cloud.boot()
    compute.claim_host(rig.cloud.app, iid, HOST)
    queue = COMPUTE.queue(HOST)
    # The batch a relay of the release before enqueued, still in Redis.
    Queue(queue, connection=Redis.from_url(rig.redis_url)).enqueue(
        BATCH_JOB_FUNC, queue, [["spawn", str(iid)]], job_id="batch_7_compute-compute-1"
    )

    run_burst(rig.redis_url, [queue], rig.compute)

    assert rig.instance(iid).vm_state == VmState.ACTIVE


def test_a_job_refuses_the_context_of_another_role(rig: Rig) -> None:
    iid = _active(rig)
    rig.cloud.action("stop", iid)
    rig.relay.catch_up()
    queue = COMPUTE.queue(HOST)

    # A compute job taken by a worker that has only the scheduler's context.
    run_burst(rig.redis_url, [queue], replace(rig.scheduler))

    assert rig.instance(iid).task_state == TaskState.POWERING_OFF  # nothing done
