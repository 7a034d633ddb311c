"""Unit tests for the worker-side compute commands on the in-memory store."""

from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest

from commands.app import CloudApp
from commands.catalog import (
    CreateFlavor,
    RegisterHost,
    create_flavor,
    register_host,
)
from commands.compute import (
    claim_host,
    fail_instance,
    finish_delete,
    finish_spawn,
    finish_start,
    finish_stop,
)
from commands.identity import CreateProject, create_project
from commands.server_actions import delete_server, start_server, stop_server
from commands.servers import BootServer, ServerAction, boot_server
from domain.errors import InvalidTransition, NotFound
from domain.host import ComputeHost, Resources
from domain.image import Image
from domain.instance import NO_VALID_HOST, Instance
from domain.quota import Quota
from domain.values import SYSTEM, Actor, PowerState, TaskState, VmState


@dataclass
class World:
    app: CloudApp
    user: Actor


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    project_id = create_project(CreateProject("alpha"), app, SYSTEM).id.hex
    user = Actor("user-1", project_id, ("member",), "req-boot")
    create_flavor(CreateFlavor("2", "m1.small", 2, 2048, 20, swap_mb=1), app, SYSTEM)
    register_host(RegisterHost("big", 16, 65536, 1000), app, SYSTEM)
    cmd = RegisterHost("tiny", 1, 1024, 10, cpu_ratio=1.0, ram_ratio=1.0)
    register_host(cmd, app, SYSTEM)
    return World(app, user)


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


def _topics_after(app: CloudApp, position: int) -> list[str]:
    notifications = app.recorder.select_notifications(start=position + 1, limit=1000)
    return [n.topic.rsplit(":", 1)[1] for n in notifications]


def _count(app: CloudApp, topic: str) -> int:
    return _topics_after(app, 0).count(topic)


def _boot(world: World) -> UUID:
    image = Image(
        owner=world.user.project_id,
        name="img",
        disk_format="raw",
        container_format="bare",
        visibility="private",
        min_disk=0,
        min_ram=0,
        properties={},
        actor=world.user,
    )
    image.record_upload("md5", "sha512", "sha", 1, world.user)
    world.app.save(image)
    cmd = BootServer("vm", "2", str(image.id), "none")
    return boot_server(cmd, world.app, world.user).id


def _scheduled(world: World) -> UUID:
    instance_id = _boot(world)
    assert claim_host(world.app, instance_id, "big")
    return instance_id


def _active(world: World) -> UUID:
    instance_id = _scheduled(world)
    finish_spawn(world.app, instance_id)
    return instance_id


def _instance(world: World, instance_id: UUID) -> Instance:
    instance = world.app.repository.get(instance_id)
    assert isinstance(instance, Instance)
    return instance


def _host(world: World, name: str = "big") -> ComputeHost:
    host = world.app.repository.get(ComputeHost.create_id(name))
    assert isinstance(host, ComputeHost)
    return host


def _quota(world: World) -> Quota:
    quota = world.app.repository.get(Quota.create_id(world.user.project_id))
    assert isinstance(quota, Quota)
    return quota


def _action(world: World, instance_id: UUID) -> ServerAction:
    return ServerAction(str(instance_id))


# --- claim_host -------------------------------------------------------------


def test_claim_host_claims_and_schedules_in_one_save(world: World) -> None:
    instance_id = _boot(world)
    before = _max_id(world.app)
    assert claim_host(world.app, instance_id, "big")
    assert _topics_after(world.app, before) == [
        "ComputeHost.Claimed",
        "Instance.Scheduled",
    ]
    instance = _instance(world, instance_id)
    assert instance.host == "big"
    assert instance.task_state == TaskState.SPAWNING
    assert instance.holds_claim


def test_claim_host_takes_root_ephemeral_and_rounded_up_swap(world: World) -> None:
    instance_id = _scheduled(world)
    assert _host(world).claims == {str(instance_id): [2, 2048, 21]}


def test_claim_host_events_carry_the_boot_request_id(world: World) -> None:
    instance_id = _scheduled(world)
    instance = _instance(world, instance_id)
    (claimed,) = [
        e
        for e in world.app.repository.event_store.get(_host(world).id)
        if isinstance(e, ComputeHost.Claimed)
    ]
    assert claimed.actor == Actor(
        "service:scheduler", world.user.project_id, ("service",), "req-boot"
    )
    assert instance.last_request == world.user


def test_claim_host_that_cannot_fit_returns_false_and_appends_nothing(
    world: World,
) -> None:
    instance_id = _boot(world)
    before = _max_id(world.app)
    assert not claim_host(world.app, instance_id, "tiny")
    assert _max_id(world.app) == before
    assert _instance(world, instance_id).task_state == TaskState.SCHEDULING


def test_claim_on_a_disabled_host_returns_false(world: World) -> None:
    host = _host(world)
    host.set_enabled(False, SYSTEM)
    world.app.save(host)
    instance_id = _boot(world)
    before = _max_id(world.app)
    assert not claim_host(world.app, instance_id, "big")
    assert _max_id(world.app) == before


def test_claim_on_an_unknown_host_is_not_found(world: World) -> None:
    with pytest.raises(NotFound, match="Host nowhere"):
        claim_host(world.app, _boot(world), "nowhere")


def test_claim_for_an_unknown_instance_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        claim_host(world.app, uuid4(), "big")


def test_claim_for_a_deleted_instance_is_rejected_and_appends_nothing(
    world: World,
) -> None:
    instance_id = _boot(world)
    delete_server(_action(world, instance_id), world.app, world.user)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        claim_host(world.app, instance_id, "big")
    assert _max_id(world.app) == before
    assert _host(world).claims == {}


# --- spawn / stop / start ---------------------------------------------------


def test_finish_spawn_makes_the_instance_active(world: World) -> None:
    instance = _instance(world, _active(world))
    assert instance.vm_state == VmState.ACTIVE
    assert instance.power_state == PowerState.RUNNING


def test_finish_spawn_before_scheduling_is_rejected(world: World) -> None:
    with pytest.raises(InvalidTransition):
        finish_spawn(world.app, _boot(world))


def test_finish_stop_and_start_follow_the_user_requests(world: World) -> None:
    instance_id = _active(world)
    stop_server(_action(world, instance_id), world.app, world.user)
    finish_stop(world.app, instance_id)
    assert _instance(world, instance_id).vm_state == VmState.STOPPED
    start_server(_action(world, instance_id), world.app, world.user)
    finish_start(world.app, instance_id)
    instance = _instance(world, instance_id)
    assert instance.vm_state == VmState.ACTIVE
    assert instance.task_state is None


def test_finish_stop_without_a_request_is_rejected(world: World) -> None:
    instance_id = _active(world)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        finish_stop(world.app, instance_id)
    assert _max_id(world.app) == before


# --- fail_instance ----------------------------------------------------------


def test_fail_unscheduled_instance_releases_only_quota(world: World) -> None:
    instance_id = _boot(world)
    before = _max_id(world.app)
    fail_instance(world.app, instance_id, NO_VALID_HOST)
    assert _topics_after(world.app, before) == ["Instance.Failed", "Quota.Released"]
    instance = _instance(world, instance_id)
    assert instance.vm_state == VmState.ERROR
    assert instance.fault is not None
    assert instance.fault["message"] == NO_VALID_HOST
    assert instance.fault["code"] == 500
    assert _quota(world).allocations == {}


def test_fail_scheduled_instance_releases_claim_and_quota(world: World) -> None:
    instance_id = _scheduled(world)
    before = _max_id(world.app)
    fail_instance(world.app, instance_id, "spawn failed", code=503)
    assert sorted(_topics_after(world.app, before)) == [
        "ComputeHost.Released",
        "Instance.Failed",
        "Quota.Released",
    ]
    assert _host(world).used == Resources(0, 0, 0)
    assert _quota(world).allocations == {}
    fault = _instance(world, instance_id).fault
    assert fault is not None
    assert fault["code"] == 503


def test_fail_twice_releases_claim_and_quota_exactly_once(world: World) -> None:
    instance_id = _scheduled(world)
    fail_instance(world.app, instance_id, "first")
    before = _max_id(world.app)
    fail_instance(world.app, instance_id, "second")
    assert _topics_after(world.app, before) == ["Instance.Failed"]
    assert _count(world.app, "ComputeHost.Released") == 1
    assert _count(world.app, "Quota.Released") == 1


def test_fail_while_deleting_is_rejected_and_appends_nothing(world: World) -> None:
    instance_id = _active(world)
    delete_server(_action(world, instance_id), world.app, world.user)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        fail_instance(world.app, instance_id, "boom")
    assert _max_id(world.app) == before
    assert str(instance_id) in _host(world).claims


# --- finish_delete ----------------------------------------------------------


def test_finish_delete_releases_claim_and_quota_in_one_save(world: World) -> None:
    instance_id = _active(world)
    delete_server(_action(world, instance_id), world.app, world.user)
    before = _max_id(world.app)
    finish_delete(world.app, instance_id)
    assert sorted(_topics_after(world.app, before)) == [
        "ComputeHost.Released",
        "Instance.Deleted",
        "Quota.Released",
    ]
    assert _instance(world, instance_id).is_deleted
    assert _host(world).claims == {}
    assert not any(_quota(world).in_use.values())


def test_finish_delete_twice_is_rejected_and_releases_once(world: World) -> None:
    instance_id = _active(world)
    delete_server(_action(world, instance_id), world.app, world.user)
    finish_delete(world.app, instance_id)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        finish_delete(world.app, instance_id)
    assert _max_id(world.app) == before
    assert _count(world.app, "ComputeHost.Released") == 1
    assert _count(world.app, "Quota.Released") == 1


def test_finish_delete_after_failure_releases_nothing_again(world: World) -> None:
    instance_id = _scheduled(world)
    fail_instance(world.app, instance_id, "spawn failed")
    delete_server(_action(world, instance_id), world.app, world.user)
    before = _max_id(world.app)
    finish_delete(world.app, instance_id)
    assert _topics_after(world.app, before) == ["Instance.Deleted"]
    assert _count(world.app, "ComputeHost.Released") == 1
    assert _count(world.app, "Quota.Released") == 1


def test_released_capacity_can_be_claimed_again(world: World) -> None:
    cmd = RegisterHost("one", 2, 2048, 21, cpu_ratio=1.0, ram_ratio=1.0)
    register_host(cmd, world.app, SYSTEM)
    first = _boot(world)
    assert claim_host(world.app, first, "one")
    second = _boot(world)
    assert not claim_host(world.app, second, "one")
    fail_instance(world.app, first, "spawn failed")
    assert claim_host(world.app, second, "one")
