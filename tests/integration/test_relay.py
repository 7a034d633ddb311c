"""The relay's at-least-once guarantees on real PostgreSQL and Redis: every
item it owes is recorded with its position, enqueued once in a batch job per
queue, and re-enqueued if Redis loses it, until an event its route names as
a completion shows it has run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
import redis
from eventsourcing.persistence import IntegrityError
from helpers import (
    TINY,
    Cloud,
    RelayRig,
    build_cloud,
    build_relay,
    execute,
    follower_for,
    queued_ids,
)
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.job import Job, JobStatus

from commands import compute
from commands.servers import BootServer
from domain.instance import NO_VALID_HOST, Instance
from domain.values import SYSTEM
from ops.ports import free_port
from projections.reader import Query
from workers import routes
from workers.dispatch import BATCH_JOB, OwedItem
from workers.rq_worker import REQUEST_IDS_META

HOST_QUEUE = "compute.compute-1"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    cloud.register_host("compute-1")
    yield cloud
    cloud.app.close()


@pytest.fixture
def rig(cloud: Cloud, redis_url: str) -> Iterator[RelayRig]:
    rig = build_relay(cloud.app, cloud.database_url, redis_url)
    yield rig
    rig.relay.datastore.close()


def _flushall(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushall()


def _pending_ids(rig: RelayRig) -> list[str]:
    return [item.item_id for item in rig.relay.pending()]


def _queued_items(redis_url: str, queue: str) -> list[list[str]]:
    """The (kind, aggregate id) items of every batch job queued on ``queue``."""
    connection = redis.Redis.from_url(redis_url)
    items = []
    for job_id in queued_ids(redis_url, queue):
        job = Job.fetch(job_id, connection=connection)
        assert (job.func_name, job.args[0]) == (BATCH_JOB, queue)
        items += job.args[1]
    return items


def _worker_takes_all(redis_url: str, queue: str) -> list[str]:
    """What a worker does first with each queued job: take it and start it."""
    connection = redis.Redis.from_url(redis_url)
    taken = Queue(queue, connection=connection).get_job_ids()
    for job_id in taken:
        Queue(queue, connection=connection).remove(job_id)
        Job.fetch(job_id, connection=connection).set_status(JobStatus.STARTED)
    return taken


def _spawned(cloud: Cloud, rig: RelayRig) -> UUID:
    """A booted instance, running on compute-1, with every event relayed."""
    iid = cloud.boot()
    assert compute.claim_host(cloud.app, iid, "compute-1")
    compute.finish_spawn(cloud.app, iid)
    rig.catch_up()
    return iid


def test_a_boot_owes_a_schedule_job_on_the_scheduler_queue(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()

    rig.catch_up()

    batch = f"batch_{cloud.last_notification_id()}_scheduler"
    owed = OwedItem(f"instance.schedule_{iid}_1", "instance.schedule", str(iid), "scheduler", batch)
    assert rig.relay.pending() == [owed]
    assert queued_ids(redis_url, "scheduler") == [batch]
    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(iid)]]
    assert rig.relay.position() == cloud.last_notification_id()


def test_many_boots_in_one_batch_go_out_as_one_job_per_queue(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iids = [cloud.boot(f"vm-{n}") for n in range(5)]

    rig.catch_up()  # one batch of events

    assert len(queued_ids(redis_url, "scheduler")) == 1
    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(i)] for i in iids]


def test_a_follower_behind_the_tracked_position_cannot_relay_the_batch_again(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    rig.catch_up()

    stale = follower_for(cloud.app, rig.relay, start_after=0)
    with pytest.raises(IntegrityError):
        stale.step()

    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(iid)]]


def test_relaying_again_from_position_zero_enqueues_no_second_copy(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    rig.catch_up()
    execute(cloud.database_url, "DELETE FROM relay_tracking WHERE application_name='cloudledger'")

    rebuilt = build_relay(cloud.app, cloud.database_url, redis_url)
    assert rebuilt.follower.position == 0
    rebuilt.catch_up()
    rebuilt.relay.datastore.close()

    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(iid)]]
    assert Queue("scheduler", connection=rig.relay.redis).count == 1
    assert _pending_ids(rig) == [f"instance.schedule_{iid}_1"]


def test_reconcile_re_enqueues_an_owed_job_after_redis_was_flushed(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    rig.catch_up()
    _flushall(redis_url)
    assert queued_ids(redis_url, "scheduler") == []

    assert rig.relay.reconcile() == 1

    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(iid)]]
    assert rig.relay.reconcile() == 0  # present in Redis again: nothing to do


def test_redis_failing_between_tracking_commit_and_enqueue_loses_no_job(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    rig.catch_up()  # the image the cloud was made with
    iid = cloud.boot()
    real_redis = rig.relay.redis
    rig.relay.redis = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))

    # Committed position and pending row, then Redis failed: the relay goes on.
    assert rig.follower.step() == 1

    assert rig.relay.position() == cloud.last_notification_id()
    assert _pending_ids(rig) == [f"instance.schedule_{iid}_1"]
    assert queued_ids(redis_url, "scheduler") == []
    rig.relay.redis = real_redis
    restarted = build_relay(cloud.app, cloud.database_url, redis_url)
    assert restarted.follower.step() == 0  # the log has nothing new for it
    assert restarted.relay.reconcile() == 1
    restarted.relay.datastore.close()
    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(iid)]]


def test_a_relayed_failure_completes_the_job_and_reconcile_owes_nothing(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    rig.catch_up()
    compute.fail_instance(cloud.app, iid, NO_VALID_HOST)

    rig.catch_up()

    assert rig.relay.pending() == []
    _flushall(redis_url)
    assert rig.relay.reconcile() == 0
    assert queued_ids(redis_url, "scheduler") == []


def test_scheduled_completes_the_schedule_job_and_owes_a_spawn_on_the_host_queue(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    rig.catch_up()
    assert compute.claim_host(cloud.app, iid, "compute-1")

    rig.catch_up()

    batch = f"batch_{cloud.last_notification_id()}_compute-compute-1"
    spawn = OwedItem(f"instance.spawn_{iid}_2", "instance.spawn", str(iid), HOST_QUEUE, batch)
    assert rig.relay.pending() == [spawn]
    assert queued_ids(redis_url, HOST_QUEUE) == [batch]
    _flushall(redis_url)
    assert rig.relay.reconcile() == 1
    assert queued_ids(redis_url, "scheduler") == []
    assert _queued_items(redis_url, HOST_QUEUE) == [["instance.spawn", str(iid)]]


def test_stop_start_and_delete_requests_go_to_the_instances_host_queue(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = _spawned(cloud, rig)
    steps = [
        ("stop", compute.finish_stop, 4),
        ("start", compute.finish_start, 6),
        ("delete", None, 8),
    ]
    sent = []
    for action, finish, version in steps:
        cloud.action(action, iid)
        rig.catch_up()

        assert _pending_ids(rig) == [f"instance.{action}_{iid}_{version}"]
        sent += _queued_items(redis_url, HOST_QUEUE)
        _worker_takes_all(redis_url, HOST_QUEUE)
        if finish is not None:
            finish(cloud.app, iid)
    # The build was relayed in one batch, its results with it: no schedule or
    # spawn job was ever enqueued, only the three host jobs.
    assert queued_ids(redis_url, "scheduler") == []
    assert sent == [[f"instance.{a}", str(iid)] for a, _, _ in steps]


def test_deleting_an_unscheduled_instance_owes_no_host_job(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    rig.catch_up()
    cloud.action("delete", iid)  # no host: the handler finishes the deletion itself

    rig.catch_up()

    assert rig.relay.pending() == []
    names = {q.name for q in Queue.all(connection=rig.relay.redis)}
    assert names == {"scheduler"}
    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(iid)]]  # will skip


def test_a_boot_deleted_before_it_was_relayed_enqueues_nothing(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    cloud.action("delete", iid)

    rig.catch_up()  # Requested, DeleteRequested and Deleted in one batch

    assert rig.relay.pending() == []
    assert Queue.all(connection=rig.relay.redis) == []


def test_a_finished_deletion_leaves_nothing_of_the_instance_in_the_relay(
    cloud: Cloud, rig: RelayRig
) -> None:
    iid = _spawned(cloud, rig)
    cloud.action("delete", iid)
    rig.catch_up()
    compute.finish_delete(cloud.app, iid)
    rig.catch_up()

    assert rig.relay.pending() == []
    rows = rig.relay.fetch_all(Query("SELECT aggregate_id FROM relay_placements"))
    assert iid not in [row["aggregate_id"] for row in rows]


def test_a_later_event_its_route_does_not_name_leaves_an_owed_job_owed(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    """Say a volume-attached event arrives while a spawn is owed: the spawn
    stays owed, since only the spawn's declared completions end it."""
    iid = cloud.boot()
    assert compute.claim_host(cloud.app, iid, "compute-1")
    rig.catch_up()
    assert _pending_ids(rig) == [f"instance.spawn_{iid}_2"]
    unrelated = Instance.StartRequested(
        originator_id=iid, originator_version=3, timestamp=datetime.now(UTC), actor=SYSTEM
    )
    assert "instance.spawn" not in routes.kinds_completed_by(type(unrelated))

    rig.relay.apply_batch([(unrelated, cloud.last_notification_id() + 1)])

    assert sorted(_pending_ids(rig)) == sorted(
        [f"instance.spawn_{iid}_2", f"instance.start_{iid}_3"]
    )
    _flushall(redis_url)
    assert rig.relay.reconcile() == 2  # the spawn's batch and the start's
    assert sorted(_queued_items(redis_url, HOST_QUEUE)) == [
        ["instance.spawn", str(iid)],
        ["instance.start", str(iid)],
    ]


def test_reconcile_re_enqueues_exactly_what_is_owed(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    done, owed = cloud.boot("done"), cloud.boot("owed")
    rig.catch_up()  # one batch owes both schedules
    compute.fail_instance(cloud.app, done, NO_VALID_HOST)
    rig.catch_up()  # the failure completes one of them
    _flushall(redis_url)

    assert rig.relay.reconcile() == 1

    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(owed)]]


def test_items_owed_while_the_last_batch_waits_go_out_together_once_it_is_taken(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    cloud.boot("first")
    rig.catch_up()
    (first_batch,) = queued_ids(redis_url, "scheduler")
    later = []
    for n in range(3):  # three relay batches while no worker takes the first
        later.append(cloud.boot(f"later-{n}"))
        rig.catch_up()

    assert queued_ids(redis_url, "scheduler") == [first_batch]  # held, not sent
    assert len(_pending_ids(rig)) == 4
    assert _worker_takes_all(redis_url, "scheduler") == [first_batch]

    rig.relay.flush()

    assert _queued_items(redis_url, "scheduler") == [["instance.schedule", str(i)] for i in later]
    (second_batch,) = queued_ids(redis_url, "scheduler")
    rows = rig.relay.fetch_all(
        Query("SELECT batch_id FROM relay_pending WHERE aggregate_id = ANY(%s)", (later,))
    )
    assert {row["batch_id"] for row in rows} == {second_batch}  # as reconcile must know them


def _request_ids_of_jobs(redis_url: str, queue: str) -> list[list[str]]:
    connection = redis.Redis.from_url(redis_url)
    jobs = [
        Job.fetch(i, connection=connection) for i in Queue(queue, connection=connection).job_ids
    ]
    return [sorted(job.meta[REQUEST_IDS_META]) for job in jobs]


def test_a_job_carries_the_request_ids_of_its_events_even_after_redis_lost_it(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    for n in (1, 2):
        boot = BootServer(f"vm-{n}", TINY, cloud.image_id, "none")
        cloud.services.boot_server(boot, replace(cloud.member, request_id=f"req-{n}"))
    rig.catch_up()  # one batch: one job for both boots

    assert _request_ids_of_jobs(redis_url, "scheduler") == [["req-1", "req-2"]]
    _flushall(redis_url)
    assert rig.relay.reconcile() == 1
    assert _request_ids_of_jobs(redis_url, "scheduler") == [["req-1", "req-2"]]
