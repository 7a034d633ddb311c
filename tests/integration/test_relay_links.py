"""Steps across aggregates in the relay, on real PostgreSQL and Redis: an
event of one aggregate completes a job owed for another, and owes the next
step of that other, through a link kept in the relay's own tables, in the
transactions of the events that make and use it. And job kinds stored
before kinds were named by resource still run and still complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from uuid import UUID

import pytest
import redis
from helpers import Cloud, RelayRig, build_cloud, build_relay, execute, queued_ids, rows
from rq.job import Job

from commands import compute
from commands.images import CreateImage
from domain.image import Image
from domain.instance import Instance
from projections.view import topics_of
from workers.declarations import Link, Route, Via, WorkerResource
from workers.dispatch import Relay
from workers.relay_writes import OwedItem
from workers.resources.instance import COMPUTE, SNAPSHOT
from workers.routes import Routing

HOST_QUEUE = COMPUTE.queue("compute-1")


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


def _spawned(cloud: Cloud) -> UUID:
    iid = cloud.boot()
    assert compute.claim_host(cloud.app, iid, "compute-1")
    compute.finish_spawn(cloud.app, iid)
    return iid


def _snapshot(cloud: Cloud, iid: UUID) -> str:
    return str(cloud.services.snapshot_server(str(iid), "snap", {}, cloud.member).id)


def _upload(cloud: Cloud, image_id: str, by_owner: bool = False) -> None:
    """What the host's upload does through the Image API: the image gets its data."""
    service = cloud.member if by_owner else cloud.member.as_service("compute")
    data = b"".join(cloud.services.image_store.open(cloud.image_id))  # a real qcow2
    cloud.services.upload_image(image_id, [data], service)


def _owed(rig: RelayRig) -> list[tuple[str, str, str]]:
    return sorted((i.kind, i.aggregate_id, i.queue) for i in rig.relay.pending())


def _links(cloud: Cloud) -> list[tuple[str, str, str]]:
    found = rows(cloud.database_url, "SELECT link, source_id, target_id FROM relay_links")
    return sorted((r["link"], str(r["source_id"]), str(r["target_id"])) for r in found)


def _queued_items(redis_url: str, queue: str) -> list[list[str]]:
    connection = redis.Redis.from_url(redis_url)
    return [
        item
        for job_id in queued_ids(redis_url, queue)
        for item in Job.fetch(job_id, connection=connection).args[1]
    ]


def test_a_snapshot_request_links_its_instance_to_its_image(cloud: Cloud, rig: RelayRig) -> None:
    iid = _spawned(cloud)
    image_id = _snapshot(cloud, iid)

    rig.catch_up()

    assert _owed(rig) == [("instance.snapshot", str(iid), HOST_QUEUE)]
    assert _links(cloud) == [(SNAPSHOT.name, image_id, str(iid))]


def test_the_image_s_upload_completes_the_host_s_step_and_owes_the_instance_s_next(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = _spawned(cloud)
    image_id = _snapshot(cloud, iid)
    rig.catch_up()

    _upload(cloud, image_id)
    rig.catch_up()

    # The upload step is done (by an event of the image, not the instance),
    # and the instance owes the step that ends its task, on the scheduler.
    assert _owed(rig) == [("instance.snapshot_done", str(iid), "scheduler")]
    assert ["instance.snapshot_done", str(iid)] in _queued_items(redis_url, "scheduler")

    compute.finish_snapshot(cloud.app, iid, True)
    rig.catch_up()

    assert _owed(rig) == []
    assert _links(cloud) == []  # the wait is over


def test_a_crash_between_the_two_steps_loses_the_second_and_repeats_neither(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = _spawned(cloud)
    image_id = _snapshot(cloud, iid)
    rig.catch_up()
    _upload(cloud, image_id)
    rig.catch_up()
    # The relay dies and Redis loses its queues before any worker took the step.
    rig.relay.datastore.close()
    redis.Redis.from_url(redis_url).flushall()

    restarted = build_relay(cloud.app, cloud.database_url, redis_url)
    try:
        assert restarted.follower.step() == 0  # the upload was relayed, once
        assert restarted.relay.reconcile() == 1
    finally:
        restarted.relay.datastore.close()

    assert _queued_items(redis_url, "scheduler") == [["instance.snapshot_done", str(iid)]]
    assert queued_ids(redis_url, HOST_QUEUE) == []  # the upload is not asked again


def test_a_link_made_and_used_in_one_batch_owes_the_step(cloud: Cloud, rig: RelayRig) -> None:
    iid = _spawned(cloud)
    image_id = _snapshot(cloud, iid)
    _upload(cloud, image_id)

    rig.catch_up()  # the request and the upload in one batch

    assert _owed(rig) == [("instance.snapshot_done", str(iid), "scheduler")]


def test_an_upload_of_an_image_nothing_waits_on_owes_nothing(cloud: Cloud, rig: RelayRig) -> None:
    rig.catch_up()
    image = cloud.services.create_image(CreateImage("plain"), cloud.member)
    _upload(cloud, str(image.id), by_owner=True)

    rig.catch_up()

    assert _owed(rig) == []


def test_a_deleted_instance_stops_waiting_on_its_snapshot(cloud: Cloud, rig: RelayRig) -> None:
    iid = _spawned(cloud)
    image_id = _snapshot(cloud, iid)
    rig.catch_up()

    cloud.action("delete", iid)
    compute.finish_delete(cloud.app, iid)
    rig.catch_up()
    _upload(cloud, image_id)
    rig.catch_up()

    assert _links(cloud) == []
    assert _owed(rig) == []


# A per-host step owed by another aggregate's event goes to the host of the
# aggregate that waits (as "spawn once the port is bound" will).
_WAITS = Link("test.waits", Instance.SnapshotRequested, "image_id", (Instance.Deleted,))
_FOLLOW = Route(
    "test.follow",
    Via(_WAITS, Image.Uploaded),
    COMPUTE,
    (Instance.Deleted,),
    "workers.jobs.snapshot:finish_snapshots",
)
_PLACED = Routing(
    (
        WorkerResource(
            "test",
            routes=(_FOLLOW,),
            placements=Relay.routing.placements,
            links=(_WAITS,),
        ),
    )
)


class PlacedRelay(Relay):
    routing: ClassVar[Routing] = _PLACED
    topics = topics_of(*_PLACED.event_types())


def test_a_step_owed_through_a_link_goes_to_the_waiting_aggregate_s_host(
    cloud: Cloud, redis_url: str
) -> None:
    rig = build_relay(cloud.app, cloud.database_url, redis_url, PlacedRelay)
    try:
        iid = _spawned(cloud)
        image_id = _snapshot(cloud, iid)
        _upload(cloud, image_id)
        rig.catch_up()

        assert _owed(rig) == [("test.follow", str(iid), HOST_QUEUE)]
    finally:
        rig.relay.datastore.close()


def test_a_row_owed_before_kinds_were_named_by_resource_is_renamed_and_completes(
    cloud: Cloud, rig: RelayRig, redis_url: str
) -> None:
    iid = cloud.boot()
    assert compute.claim_host(cloud.app, iid, "compute-1")
    rig.catch_up()
    execute(cloud.database_url, "DELETE FROM relay_pending")
    # The row a relay of the release before wrote for the spawn.
    execute(
        cloud.database_url,
        "INSERT INTO relay_pending (job_id, aggregate_id, version, queue, kind)"
        f" VALUES ('spawn_{iid}_2', '{iid}', 2, '{HOST_QUEUE}', 'spawn')",
    )

    rig.relay.create_table()  # what `cloudledger run` does at every start

    assert rig.relay.pending() == [
        OwedItem(
            f"spawn_{iid}_2", "instance.spawn", str(iid), HOST_QUEUE, f"batch_legacy_spawn_{iid}_2"
        )
    ]
    redis.Redis.from_url(redis_url).flushall()
    assert rig.relay.reconcile() == 1
    assert _queued_items(redis_url, HOST_QUEUE) == [["instance.spawn", str(iid)]]
    compute.finish_spawn(cloud.app, iid)
    rig.catch_up()
    assert rig.relay.pending() == []  # the spawn's completion found the renamed row
