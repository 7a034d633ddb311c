"""The projector on real PostgreSQL: read-model rows and tracking written
together, exactly once, rebuildable from position 0, woken by NOTIFY."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from helpers import (
    HUGE,
    SMALL,
    TINY,
    Cloud,
    build_cloud,
    es_env,
    execute,
    follower_for,
    rows,
    tracked_position,
)
from psycopg import Cursor
from psycopg.rows import DictRow

from commands import compute
from commands.domains import CreateDomain
from commands.identity import CreateProject, CreateRole, CreateUser, UpdateUser
from commands.images import CreateImage
from domain.instance import NO_VALID_HOST, Instance
from domain.quota import Quota
from domain.values import SYSTEM
from projections.bootstrap import Projector, build_group, build_view, postgres_recorder
from projections.group import ViewGroup
from projections.quotas import QuotasView
from projections.servers import ServersView
from projections.view import ProjectionView

READ_MODEL_KEYS = {
    "servers": "id",
    "quotas": "quota_id, resource",
    "flavors": "flavor_id",
    "images": "id",
    "image_members": "image_id, member_id",
    "hosts": "name",
    "directory_domains": "id",
    "directory_projects": "id",
    "directory_users": "id",
    "directory_assignments": "user_id, scope, target_id, role",
    "directory_roles": "name",
    "revocations": "key, revoked_at",
}


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


@pytest.fixture
def views(cloud: Cloud) -> Iterator[dict[str, ProjectionView]]:
    group = build_group(es_env(cloud.database_url))
    yield {view.name: view for view in group.views}
    group.datastore.close()


def _projector(cloud: Cloud, views: dict[str, ProjectionView]) -> Projector:
    members = list(views.values())
    return Projector(cloud.app, ViewGroup(members[0].datastore, members), cloud.database_url)


def _busy_cloud(cloud: Cloud) -> dict[str, UUID]:
    """Commands touching every read model: boots, a spawn, a stop, a failure,
    a deletion, a flavor removed, a user added and disabled, a domain, a
    role, and last a quota changed."""
    cloud.register_host("compute-1")
    running, stopped, failed, gone = (cloud.boot(name) for name in ("a", "b", "c", "d"))
    for iid in (running, stopped):
        assert compute.claim_host(cloud.app, iid, "compute-1")
        compute.finish_spawn(cloud.app, iid)
    cloud.action("stop", stopped)
    compute.finish_stop(cloud.app, stopped)
    compute.fail_instance(cloud.app, failed, NO_VALID_HOST)
    cloud.action("delete", gone)
    cloud.services.delete_flavor(SMALL, SYSTEM)
    alice = cloud.services.create_user(CreateUser("alice", "pw", "demo", ("member",)), SYSTEM)
    cloud.services.create_domain(CreateDomain("east"), SYSTEM)
    cloud.services.create_role(CreateRole("auditor"), SYSTEM)
    cloud.services.update_user(UpdateUser(alice.id.hex, enabled=False), SYSTEM)  # a revocation
    cloud.set_quota(instances=7)
    _image_metadata(cloud)
    return {"running": running, "stopped": stopped, "failed": failed, "gone": gone}


def _image_metadata(cloud: Cloud) -> None:
    """A patch, tags, a member who accepts and one removed, a deactivation."""
    admin, demo = SYSTEM, cloud.member.project_id
    shared = cloud.services.create_image(CreateImage("shared", tags=["a"]), admin).id.hex
    ops = [
        {"op": "add", "path": "/os_distro", "value": "cirros"},
        {"op": "replace", "path": "/min_ram", "value": 64},
        {"op": "add", "path": "/tags/-", "value": "b"},
    ]
    cloud.services.patch_image(shared, ops, admin)
    cloud.services.add_image_member(shared, demo, admin)
    cloud.services.set_image_member_status(shared, demo, "accepted", cloud.member)
    other = cloud.services.create_project(CreateProject("other"), admin).id.hex
    cloud.services.add_image_member(shared, other, admin)
    cloud.services.remove_image_member(shared, other, admin)
    retired = cloud.services.create_image(CreateImage("retired", "raw"), admin).id.hex
    cloud.services.upload_image(retired, [b"bytes"], admin)
    cloud.services.set_image_active(retired, False, admin)


def _read_models(database_url: str) -> dict[str, list[dict[str, Any]]]:
    return {
        table: rows(database_url, f"SELECT * FROM {table} ORDER BY {key}")
        for table, key in READ_MODEL_KEYS.items()
    }


def _last_notification_of(cloud: Cloud, topics: tuple[str, ...]) -> int:
    notifications = postgres_recorder(cloud.app).select_notifications(
        start=1, limit=100_000, topics=list(topics)
    )
    return notifications[-1].id if notifications else 0


def _wait_for(condition: Callable[[], Any], timeout: float) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - started


def test_catch_up_fills_the_rows_the_api_reads(
    cloud: Cloud, views: dict[str, ProjectionView]
) -> None:
    ids = _busy_cloud(cloud)

    _projector(cloud, views).catch_up()

    servers: Any = views["servers"]
    running = servers.get(ids["running"])
    assert (running["name"], running["vm_state"], running["task_state"]) == ("a", "active", None)
    assert (running["power_state"], running["host"]) == ("running", "compute-1")
    assert running["flavor_id"] == TINY and running["launched"] is not None
    assert servers.get(ids["stopped"])["vm_state"] == "stopped"
    assert servers.get(ids["failed"])["fault"]["message"] == NO_VALID_HOST
    assert servers.get(ids["gone"]) is None
    listed = servers.list_servers(cloud.project_id, 10)
    assert {row["name"] for row in listed} == {"a", "b", "c"}

    quotas = views["quotas"].for_project(cloud.project_id)  # type: ignore[attr-defined]
    assert {k: quotas[k] for k in ("instances", "cores", "ram")} == {
        "instances": {"limit": 7, "in_use": 2},
        "cores": {"limit": 20, "in_use": 2},
        "ram": {"limit": 2_000_000, "in_use": 1024},
    }
    flavors: Any = views["flavors"]
    assert [f["flavor_id"] for f in flavors.list_flavors(False)] == [TINY, HUGE]
    assert flavors.get(SMALL) is None
    image = views["images"].get(UUID(cloud.image_id), cloud.project_id, False)  # type: ignore[attr-defined]
    stored = cloud.app.repository.get(UUID(cloud.image_id))
    assert (image["status"], image["size"], image["visibility"]) == (
        "active",
        stored.size,
        "public",
    )
    [host] = views["hosts"].list_hosts()  # type: ignore[attr-defined]
    assert (host["name"], host["running_vms"], host["vcpus_used"]) == ("compute-1", 2, 2)
    assert (host["ram_mb_used"], host["disk_gb_used"]) == (1024, 2)


def test_each_view_tracks_the_last_notification_its_projector_read(
    cloud: Cloud, views: dict[str, ProjectionView]
) -> None:
    _busy_cloud(cloud)

    _projector(cloud, views).catch_up()

    # One reader feeds every view, so each has seen up to the last event any
    # of them follows (and so at least its own last relevant event).
    read_up_to = _last_notification_of(cloud, tuple(t for v in views.values() for t in v.topics))
    for name, view in views.items():
        assert view.position() >= _last_notification_of(cloud, view.topics)
        assert (name, view.position()) == (name, read_up_to)
        assert tracked_position(cloud.database_url, name) == read_up_to
    assert views["quotas"].position() == cloud.last_notification_id()  # LimitsSet came last


class FlakyQuotasView(QuotasView):
    """The quotas view, failing on a chosen consumer's reservation when told."""

    fail_on: str | None = None

    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        if isinstance(event, Quota.Reserved) and event.consumer_id == self.fail_on:
            raise RuntimeError("handler failed mid-batch")
        super().apply(event, cur)


def test_a_failed_batch_changes_nothing_and_a_retry_applies_it_once(cloud: Cloud) -> None:
    view = build_view(FlakyQuotasView, es_env(cloud.database_url))
    follower = follower_for(cloud.app, view)
    follower.catch_up()
    before_rows, before_position = view.for_project(cloud.project_id), view.position()
    _, second, _ = (cloud.boot(name) for name in ("a", "b", "c"))

    view.fail_on = str(second)
    with pytest.raises(RuntimeError, match="mid-batch"):
        follower.catch_up()

    assert view.for_project(cloud.project_id) == before_rows  # first's +1 rolled back
    assert view.position() == follower.position == before_position
    view.fail_on = None
    follower.catch_up()
    # all three reservations, each applied exactly once
    assert view.for_project(cloud.project_id)["instances"] == {"limit": 10, "in_use": 3}
    assert view.position() == _last_notification_of(cloud, view.topics)
    view.datastore.close()


def test_rebuilding_from_position_zero_reproduces_the_same_rows(
    cloud: Cloud, views: dict[str, ProjectionView]
) -> None:
    _busy_cloud(cloud)
    _projector(cloud, views).catch_up()
    built = _read_models(cloud.database_url)
    positions = {name: view.position() for name, view in views.items()}

    execute(
        cloud.database_url,
        f"TRUNCATE {', '.join(READ_MODEL_KEYS)}",
        *(f"DELETE FROM {name}_tracking WHERE application_name='cloudledger'" for name in views),
    )
    assert all(view.position() == 0 for view in views.values())
    _projector(cloud, views).catch_up()

    assert _read_models(cloud.database_url) == built
    assert {name: view.position() for name, view in views.items()} == positions
    assert all(built[table] for table in READ_MODEL_KEYS)  # nothing compared empty


def _stop(projector: Projector, stop: threading.Event, runner: threading.Thread) -> None:
    stop.set()
    projector.follower.waker.set()  # see test_projector_stops_promptly
    runner.join(timeout=10)


def test_running_projector_shows_a_new_command_within_a_second(
    cloud: Cloud, views: dict[str, ProjectionView]
) -> None:
    servers: Any = views["servers"]
    projector, stop = _projector(cloud, views), threading.Event()
    runner = threading.Thread(target=projector.run, args=(stop,))
    runner.start()
    try:
        first = cloud.boot("first")
        _wait_for(lambda: servers.get(first) is not None, timeout=10)
        time.sleep(0.3)  # every follower is now idle, waiting for a wake-up

        second = cloud.boot("second")
        lag = _wait_for(lambda: servers.get(second) is not None, timeout=10)
    finally:
        _stop(projector, stop, runner)

    # The safety wake-up comes only every 5 s: this was NOTIFY.
    assert lag < 1.0
    assert not runner.is_alive()


def test_projector_stops_promptly(cloud: Cloud, views: dict[str, ProjectionView]) -> None:
    projector, stop = _projector(cloud, views), threading.Event()
    runner = threading.Thread(target=projector.run, args=(stop,))
    runner.start()
    time.sleep(0.3)  # caught up and idle

    stop.set()
    runner.join(timeout=1.0)
    try:
        assert not runner.is_alive()
    finally:
        _stop(projector, stop, runner)


class FailingOnceServersView(ServersView):
    """The servers view, whose first batch with a Requested event fails
    (as on a dropped database connection)."""

    failures_left = 1

    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        if isinstance(event, Instance.Requested) and self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("connection to the database was lost")
        super().apply(event, cur)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_running_projector_recovers_from_a_failed_batch(cloud: Cloud) -> None:
    view = build_view(FailingOnceServersView, es_env(cloud.database_url))
    projector = Projector(cloud.app, ViewGroup(view.datastore, [view]), cloud.database_url)
    stop = threading.Event()
    runner = threading.Thread(target=projector.run, args=(stop,))
    runner.start()

    def follower_alive() -> bool:
        return any(t.name == "projector" for t in threading.enumerate())

    try:
        _wait_for(follower_alive, timeout=5)
        iid = cloud.boot("survivor")

        def shown_or_dead() -> bool:
            return view.get(iid) is not None or not follower_alive()

        _wait_for(shown_or_dead, timeout=8)
        assert view.get(iid) is not None
    finally:
        stop.set()
        runner.join(timeout=10)
        view.datastore.close()


def test_rebuilding_one_view_leaves_the_others_applied_once(
    cloud: Cloud, views: dict[str, ProjectionView]
) -> None:
    _busy_cloud(cloud)
    _projector(cloud, views).catch_up()
    built = _read_models(cloud.database_url)

    # Rebuild only the servers view: the group resumes from it (the view
    # furthest behind) and must not apply those events again to the others.
    execute(
        cloud.database_url,
        "TRUNCATE servers",
        "DELETE FROM servers_tracking WHERE application_name='cloudledger'",
    )
    _projector(cloud, views).catch_up()

    assert _read_models(cloud.database_url) == built


def test_the_quota_view_counts_what_many_consumers_reserve_and_give_back_at_once(
    cloud: Cloud, views: dict[str, ProjectionView]
) -> None:
    quota = cloud.app.repository.get(Quota.create_id(cloud.project_id))
    vm = {"instances": 1, "cores": 2, "ram": 256}
    quota.reserve_many(
        {"vm-1": vm, "port-1": {"port": 1}, "vm-2": vm, "port-2": {"port": 1}}, SYSTEM
    )
    quota.release_many(["vm-1", "port-1"], SYSTEM)
    cloud.app.save(quota)

    _projector(cloud, views).catch_up()

    shown = views["quotas"].for_project(cloud.project_id)  # type: ignore[attr-defined]
    assert {r: shown[r]["in_use"] for r in ("instances", "cores", "ram", "port")} == {
        "instances": 1, "cores": 2, "ram": 256, "port": 1,
    }  # fmt: skip
