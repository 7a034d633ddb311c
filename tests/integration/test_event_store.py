"""The event store on real PostgreSQL: atomic multi-aggregate saves, optimistic
concurrency, snapshots, and the quota holding under concurrent boots."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from helpers import TINY, Cloud, PlainHasher, build_cloud, raced_app

from commands.app import CloudApp
from commands.bootstrap import build_app
from commands.identity import CreateProject
from commands.image_files import DirectoryImageStore
from commands.servers import BootServer
from commands.services import Services
from domain.errors import Conflict, QuotaExceeded
from domain.flavor import Flavor
from domain.host import ComputeHost
from domain.identity import Project
from domain.instance import Instance
from domain.quota import Quota
from domain.values import SYSTEM
from projections.bootstrap import postgres_recorder


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


def _topic_count(app: CloudApp, event_class: type) -> int:
    notifications = postgres_recorder(app).select_notifications(
        start=1, limit=100_000, topics=[get_topic(event_class)]
    )
    return len(notifications)


def _new_instance(cloud: Cloud, name: str) -> Instance:
    flavor: Flavor = cloud.app.repository.get(Flavor.create_id(TINY))
    return Instance(
        project_id=cloud.project_id,
        user_id=cloud.member.user_id,
        name=name,
        flavor=flavor.snapshot(),
        image_id=cloud.image_id,
        networks=[],
        actor=cloud.member,
    )


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def _replayed(app: CloudApp, aggregate_id: UUID) -> Any:
    """The aggregate from every one of its events, ignoring snapshots."""
    return project_aggregate(None, app.events.get(aggregate_id))


def test_instance_and_its_quota_reservation_land_as_consecutive_notifications(
    cloud: Cloud,
) -> None:
    before = cloud.last_notification_id()

    receipt = cloud.services.boot_server(
        BootServer("web", TINY, cloud.image_id, "none"), cloud.member
    )

    ids = [notification_id for notification_id, _ in receipt.events]
    assert ids == [before + 1, before + 2]
    logged = postgres_recorder(cloud.app).select_notifications(start=before + 1, limit=10)
    assert [(n.id, n.originator_id, n.topic) for n in logged] == [
        (before + 1, Quota.create_id(cloud.project_id), get_topic(Quota.Reserved)),
        (before + 2, receipt.id, get_topic(Instance.Requested)),
    ]


def test_save_with_a_stale_quota_raises_and_appends_not_even_the_instance(cloud: Cloud) -> None:
    quota_id = Quota.create_id(cloud.project_id)
    fresh, stale = cloud.app.repository.get(quota_id), cloud.app.repository.get(quota_id)
    first = _new_instance(cloud, "first")
    fresh.reserve(str(first.id), {"instances": 1}, cloud.member)
    cloud.app.save(fresh, first)
    before = cloud.last_notification_id()

    second = _new_instance(cloud, "second")
    stale.reserve(str(second.id), {"instances": 1}, cloud.member)
    with pytest.raises(IntegrityError):
        cloud.app.save(second, stale)  # the instance's row goes in first

    assert cloud.last_notification_id() == before
    with pytest.raises(AggregateNotFoundError):
        cloud.app.repository.get(second.id)
    assert list(cloud.quota().allocations) == [str(first.id)]


def test_quota_loaded_from_its_snapshot_equals_the_full_replay(cloud: Cloud) -> None:
    quota_id = Quota.create_id(cloud.project_id)
    for n in range(150):  # one or two events per save: past version 200
        quota = cloud.quota()
        quota.reserve(f"consumer-{n}", {"ram": 1}, cloud.member)
        if n % 3:
            quota.release(f"consumer-{n}", cloud.member)
        cloud.app.save(quota)
    assert cloud.quota().version == 252
    assert [s.originator_version for s in cloud.app.snapshots.get(quota_id)] == [200]

    fresh_process = build_app(cloud.database_url)
    try:
        from_snapshot = fresh_process.repository.get(quota_id)
    finally:
        fresh_process.close()

    replayed = _replayed(cloud.app, quota_id)
    assert _state(from_snapshot) == _state(replayed)
    assert from_snapshot.in_use == replayed.in_use
    assert from_snapshot.in_use["ram"] == 50
    assert {key: used for key, used in from_snapshot.in_use.items() if key != "ram"} == {
        key: 0 for key in from_snapshot.in_use if key != "ram"
    }


def test_host_loaded_from_its_snapshot_equals_the_full_replay(cloud: Cloud) -> None:
    cloud.register_host("compute-1", vcpus=4, ram_mb=4096)
    host_id = ComputeHost.create_id("compute-1")
    for n in range(140):
        host = cloud.host("compute-1")
        host.claim(f"instance-{n}", 1, 64, 1, SYSTEM)
        if n % 4:
            host.release(f"instance-{n}", SYSTEM)
        cloud.app.save(host)
    assert cloud.host("compute-1").version == 246
    assert [s.originator_version for s in cloud.app.snapshots.get(host_id)] == [200]

    fresh_process = build_app(cloud.database_url)
    try:
        from_snapshot = fresh_process.repository.get(host_id)
    finally:
        fresh_process.close()

    replayed = _replayed(cloud.app, host_id)
    assert _state(from_snapshot) == _state(replayed)
    assert from_snapshot.free == replayed.free
    assert len(from_snapshot.claims) == 35


def test_twenty_concurrent_boots_against_a_quota_of_five_make_exactly_five(
    cloud: Cloud, tmp_path: Path
) -> None:
    cloud.set_quota(instances=5)
    # Two API processes' worth of Services, each with its own connection pool,
    # so the quota's optimistic lock is contended across processes too.
    other_app = build_app(cloud.database_url)
    other = Services(other_app, PlainHasher(), DirectoryImageStore(tmp_path / "images"))
    start = threading.Barrier(20)

    def boot(n: int) -> str:
        services = cloud.services if n % 2 else other
        start.wait()
        try:
            services.boot_server(BootServer(f"vm-{n}", TINY, cloud.image_id, "none"), cloud.member)
        except QuotaExceeded:
            return "over quota"
        return "booted"

    try:
        with ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(boot, range(20)))
    finally:
        other_app.close()

    assert sorted(outcomes) == ["booted"] * 5 + ["over quota"] * 15
    assert _topic_count(cloud.app, Instance.Requested) == 5
    assert _topic_count(cloud.app, Quota.Reserved) == 5
    assert cloud.quota().in_use["instances"] == 5


def test_creating_a_project_a_concurrent_request_just_created_is_a_conflict(
    cloud: Cloud, tmp_path: Path
) -> None:

    def rival() -> None:  # creates "beta" between our existence check and our save
        cloud.services.create_project(CreateProject("beta"), SYSTEM)

    raced = raced_app(cloud.database_url, Project, rival)
    services = Services(raced, PlainHasher(), DirectoryImageStore(tmp_path / "images"))
    try:
        with pytest.raises(Conflict):
            services.create_project(CreateProject("beta"), SYSTEM)
    finally:
        raced.close()
    assert raced.race is None  # the rival did get in first
    assert _topic_count(cloud.app, Project.Created) == 2  # "demo" and one "beta"


def test_one_projects_quota_read_from_many_threads_while_it_changes(cloud: Cloud) -> None:
    """The API's threads share one aggregate cache: a get that fast-forwards
    the cached quota must never race another thread's copy of it (a delete
    once answered 500 with "dictionary changed size during iteration")."""
    quota_id = Quota.create_id(cloud.project_id)
    quota: Quota = cloud.app.repository.get(quota_id)
    for n in range(2000):  # a big quota takes a while to copy: a wide window for a race
        quota.reserve(f"standing-{n}", {"ram": 1}, cloud.member)
    cloud.app.save(quota)
    cloud.app.repository.get(quota_id)  # cached from here on
    writer_app = build_app(cloud.database_url)  # another API process
    stop, errors, reads = threading.Event(), list[BaseException](), [0]

    def write() -> None:
        n = 0
        while not stop.is_set():
            for change in ("reserve", "release"):
                quota: Quota = writer_app.repository.get(quota_id)
                if change == "reserve":
                    quota.reserve(f"moving-{n}", {"ram": 1}, cloud.member)
                else:
                    quota.release(f"moving-{n}", cloud.member)
                writer_app.save(quota)
            n += 1

    def read() -> None:
        while not stop.is_set():
            try:
                cloud.app.repository.get(quota_id)
                reads[0] += 1
            except BaseException as exc:  # collected for the assert
                errors.append(exc)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # preempt often, so racing threads interleave
    threads = [threading.Thread(target=read) for _ in range(16)]
    threads.append(threading.Thread(target=write))
    try:
        for thread in threads:
            thread.start()
        time.sleep(2.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(switch_interval)
        writer_app.close()

    assert errors == []
    assert reads[0] > 50
    assert cloud.quota().in_use["ram"] == 2000


def _state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_modified")}


def test_loading_many_gives_what_loading_each_gives_in_two_queries(cloud: Cloud) -> None:
    """Cached ones are fast-forwarded past what another process wrote, uncached
    ones come from their snapshot and later events, unknown ids are left out."""
    cloud.register_host("compute-1")
    booted = [cloud.boot(f"vm-{n}") for n in range(3)]
    quota_id = Quota.create_id(cloud.project_id)
    cloud.app.take_snapshot(quota_id)  # so the quota loads from a snapshot
    unknown = UUID(int=7)
    batch_process = build_app(cloud.database_url)
    try:
        cached = batch_process.repository.get(booted[0])  # cached before the change
        cloud.action("delete", booted[0])  # written by another process
        cloud.boot("vm-later")  # the quota moves on past its snapshot
        recorder = batch_process.repository.event_store.recorder
        selects = 0
        stored = recorder._stored  # type: ignore[attr-defined]

        def counting(*args: Any) -> Any:
            nonlocal selects
            selects += 1
            return stored(*args)

        recorder._stored = counting  # type: ignore[attr-defined]
        batch_process.repository.snapshot_store.recorder._stored = counting  # type: ignore[attr-defined]
        found = batch_process.repository.get_many([*booted, quota_id, unknown])
    finally:
        batch_process.close()

    assert set(found) == {*booted, quota_id}
    assert selects == 2  # the snapshots of the uncached, then every new event
    for aggregate_id, aggregate in found.items():
        assert _state_of(aggregate) == _state_of(cloud.app.repository.get(aggregate_id))
    assert found[booted[0]].version > cached.version  # fast-forwarded
    # four booted, one deleted before any host took it (so released at once)
    assert found[quota_id].in_use["instances"] == 3


def test_loading_many_hands_out_copies_as_loading_one_does(cloud: Cloud) -> None:
    instance_id = cloud.boot()
    first = cloud.app.repository.get_many([instance_id])[instance_id]
    first.name = "changed in a copy"
    assert cloud.app.repository.get_many([instance_id])[instance_id].name == "vm"
    assert cloud.app.repository.get(instance_id).name == "vm"
