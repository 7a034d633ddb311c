"""Unit tests for the Instance aggregate: Nova's vm/task/power state model."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from domain.errors import Conflict, InvalidTransition
from domain.instance import NO_VALID_HOST, Instance
from domain.values import (
    Actor,
    FlavorSnapshot,
    NetworkRequest,
    PowerState,
    TaskState,
    VmState,
)

USER = Actor("u1", "p1", ("member",), "req-boot")
WORKER = USER.as_service("compute")
FLAVOR = FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0)
AUTO = NetworkRequest(auto_allocate=True)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the handler's time, passed in


def _requested() -> Instance:
    instance = Instance(
        project_id="p1",
        user_id="u1",
        name="vm",
        flavor=FLAVOR,
        image_id="img",
        networks=[],
        actor=USER,
    )
    instance.collect_events()
    return instance


def _spawning() -> Instance:
    instance = _requested()
    instance.schedule_on("compute-1", WORKER)
    instance.collect_events()
    return instance


def _active() -> Instance:
    instance = _spawning()
    instance.mark_spawned(WORKER, now=NOW)
    instance.collect_events()
    return instance


def _stopped() -> Instance:
    instance = _active()
    instance.request_stop(USER)
    instance.mark_stopped(WORKER)
    instance.collect_events()
    return instance


def _states(instance: Instance) -> tuple[str, str | None, str]:
    return instance.vm_state, instance.task_state, instance.power_state


# --- requested ------------------------------------------------------------


def test_requested_instance_is_building_and_scheduling() -> None:
    instance = _requested()
    assert _states(instance) == (
        VmState.BUILDING,
        TaskState.SCHEDULING,
        PowerState.NOSTATE,
    )
    assert instance.host is None
    assert instance.holds_quota
    assert not instance.holds_claim
    assert instance.last_request == USER
    assert instance.launched_at is None
    assert instance.fault is None


def test_requested_event_carries_what_billing_and_audit_need() -> None:
    instance = Instance(
        project_id="p1",
        user_id="u1",
        name="vm",
        flavor=FLAVOR,
        image_id="img",
        networks=[AUTO],
        actor=USER,
    )
    (event,) = instance.collect_events()
    assert isinstance(event, Instance.Requested)
    assert (event.project_id, event.user_id, event.name) == ("p1", "u1", "vm")
    assert event.flavor == FLAVOR
    assert (event.image_id, event.networks, event.actor) == ("img", [AUTO], USER)


# --- schedule -------------------------------------------------------------


def test_schedule_sets_host_spawning_and_claim() -> None:
    instance = _requested()
    instance.schedule_on("compute-1", WORKER)
    assert instance.host == "compute-1"
    assert instance.task_state == TaskState.SPAWNING
    assert instance.vm_state == VmState.BUILDING
    assert instance.holds_claim
    (event,) = instance.collect_events()
    assert isinstance(event, Instance.Scheduled)
    assert event.host == "compute-1"


def test_schedule_twice_is_an_invalid_transition() -> None:
    instance = _spawning()
    with pytest.raises(InvalidTransition):
        instance.schedule_on("compute-2", WORKER)
    assert instance.host == "compute-1"
    assert instance.collect_events() == []


def test_schedule_an_active_instance_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _active().schedule_on("compute-2", WORKER)


# --- spawn ----------------------------------------------------------------


def test_spawn_makes_the_instance_active_and_running() -> None:
    instance = _spawning()
    instance.mark_spawned(WORKER, now=NOW)
    assert _states(instance) == (VmState.ACTIVE, None, PowerState.RUNNING)
    assert instance.launched_at is not None


def test_spawn_before_scheduling_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _requested().mark_spawned(WORKER, now=NOW)


def test_spawn_twice_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _active().mark_spawned(WORKER, now=NOW)


def test_worker_events_do_not_change_the_last_request() -> None:
    instance = _active()
    assert instance.last_request == USER


def test_launched_at_is_the_time_the_handler_passes_in() -> None:
    instance = _spawning()
    instance.mark_spawned(WORKER, now=NOW)
    (event,) = instance.collect_events()
    assert instance.launched_at == event.launched_at == NOW


# --- stop / start ---------------------------------------------------------


def test_stop_request_sets_powering_off_and_last_request() -> None:
    instance = _active()
    other = Actor("u2", "p1", ("member",), "req-stop")
    instance.request_stop(other)
    assert instance.task_state == TaskState.POWERING_OFF
    assert instance.vm_state == VmState.ACTIVE
    assert instance.last_request == other


def test_stop_while_building_is_an_invalid_transition() -> None:
    instance = _requested()
    with pytest.raises(InvalidTransition) as exc:
        instance.request_stop(USER)
    assert exc.value.message == (
        f"Cannot 'stop' instance {instance.id} while it is in "
        "vm_state building, task_state scheduling"
    )


def test_invalid_transition_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        _spawning().request_stop(USER)


def test_stop_while_already_stopping_is_an_invalid_transition() -> None:
    instance = _active()
    instance.request_stop(USER)
    with pytest.raises(InvalidTransition):
        instance.request_stop(USER)


def test_stop_a_stopped_instance_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _stopped().request_stop(USER)


def test_finish_stop_makes_the_instance_stopped_and_shut_down() -> None:
    instance = _active()
    instance.request_stop(USER)
    instance.mark_stopped(WORKER)
    assert _states(instance) == (VmState.STOPPED, None, PowerState.SHUTDOWN)


def test_finish_stop_without_a_request_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _active().mark_stopped(WORKER)


def test_start_request_sets_powering_on() -> None:
    instance = _stopped()
    instance.request_start(USER)
    assert instance.task_state == TaskState.POWERING_ON
    assert instance.vm_state == VmState.STOPPED


def test_start_an_active_instance_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _active().request_start(USER)


def test_start_while_building_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _requested().request_start(USER)


def test_finish_start_makes_the_instance_active_and_running() -> None:
    instance = _stopped()
    instance.request_start(USER)
    instance.mark_started(WORKER)
    assert _states(instance) == (VmState.ACTIVE, None, PowerState.RUNNING)


def test_finish_start_without_a_request_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _stopped().mark_started(WORKER)


def test_stop_and_start_round_trip_appends_four_events() -> None:
    instance = _active()
    instance.request_stop(USER)
    instance.mark_stopped(WORKER)
    instance.request_start(USER)
    instance.mark_started(WORKER)
    kinds = [type(e) for e in instance.collect_events()]
    assert kinds == [
        Instance.StopRequested,
        Instance.Stopped,
        Instance.StartRequested,
        Instance.Started,
    ]


# --- fail -----------------------------------------------------------------


def test_fail_while_scheduling_records_a_fault_and_drops_quota() -> None:
    instance = _requested()
    instance.fail(NO_VALID_HOST, 500, WORKER, now=NOW)
    assert instance.vm_state == VmState.ERROR
    assert instance.task_state is None
    assert instance.fault is not None
    assert instance.fault["message"] == NO_VALID_HOST
    assert instance.fault["code"] == 500
    assert not instance.holds_quota
    assert not instance.holds_claim


def test_fail_while_spawning_drops_the_claim_too() -> None:
    instance = _spawning()
    instance.fail("spawn failed", 500, WORKER, now=NOW)
    assert instance.vm_state == VmState.ERROR
    assert not instance.holds_claim
    assert not instance.holds_quota
    assert instance.host == "compute-1"


def test_fail_while_deleting_is_an_invalid_transition() -> None:
    instance = _active()
    instance.request_delete(USER)
    with pytest.raises(InvalidTransition):
        instance.fail("boom", 500, WORKER, now=NOW)
    assert instance.holds_quota


def test_fail_after_deletion_is_an_invalid_transition() -> None:
    instance = _requested()
    instance.request_delete(USER)
    instance.mark_deleted(USER)
    with pytest.raises(InvalidTransition):
        instance.fail("boom", 500, WORKER, now=NOW)


def test_fault_created_is_the_time_the_handler_passes_in() -> None:
    instance = _requested()
    instance.fail("boom", 500, WORKER, now=NOW)
    (event,) = instance.collect_events()
    assert instance.fault is not None
    assert instance.fault["created"] == event.at == NOW


# --- delete ---------------------------------------------------------------


@pytest.mark.parametrize("make", [_requested, _spawning, _active, _stopped])
def test_delete_request_is_allowed_from_any_live_state(
    make: Callable[[], Instance],
) -> None:
    instance = make()
    instance.request_delete(USER)
    assert instance.task_state == TaskState.DELETING
    assert instance.last_request == USER


def test_delete_request_is_allowed_in_error() -> None:
    instance = _requested()
    instance.fail("boom", 500, WORKER, now=NOW)
    instance.request_delete(USER)
    assert instance.task_state == TaskState.DELETING


def test_delete_again_while_deleting_reissues_the_cleanup() -> None:
    instance = _active()
    instance.request_delete(USER)
    instance.collect_events()
    instance.request_delete(USER)
    (event,) = instance.collect_events()
    assert type(event).__name__ == "DeleteRequested"
    assert instance.task_state == "deleting"


def test_finishing_a_delete_that_was_not_requested_is_invalid() -> None:
    instance = _active()
    with pytest.raises(InvalidTransition):
        instance.mark_deleted(WORKER)


def test_delete_request_after_deletion_is_an_invalid_transition() -> None:
    instance = _requested()
    instance.request_delete(USER)
    instance.mark_deleted(USER)
    with pytest.raises(InvalidTransition):
        instance.request_delete(USER)


def test_finish_delete_releases_everything() -> None:
    instance = _active()
    instance.request_delete(USER)
    instance.mark_deleted(WORKER)
    assert _states(instance) == (VmState.DELETED, None, PowerState.NOSTATE)
    assert instance.is_deleted
    assert not instance.holds_quota
    assert not instance.holds_claim


def test_finish_delete_twice_is_an_invalid_transition() -> None:
    instance = _active()
    instance.request_delete(USER)
    instance.mark_deleted(WORKER)
    with pytest.raises(InvalidTransition):
        instance.mark_deleted(WORKER)


def test_spawn_after_delete_request_is_an_invalid_transition() -> None:
    instance = _spawning()
    instance.request_delete(USER)
    with pytest.raises(InvalidTransition):
        instance.mark_spawned(WORKER, now=NOW)


def test_stop_while_deleting_is_an_invalid_transition() -> None:
    instance = _active()
    instance.request_delete(USER)
    with pytest.raises(InvalidTransition):
        instance.request_stop(USER)


def test_needs_host_cleanup_only_once_scheduled() -> None:
    assert not _requested().needs_host_cleanup
    assert _spawning().needs_host_cleanup


# --- replay ---------------------------------------------------------------


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    instance = Instance(
        project_id="p1",
        user_id="u1",
        name="vm",
        flavor=FLAVOR,
        image_id="img",
        networks=[],
        actor=USER,
    )
    instance.schedule_on("compute-1", WORKER)
    instance.mark_spawned(WORKER, now=NOW)
    instance.request_stop(USER)
    instance.mark_stopped(WORKER)
    replayed = None
    for event in instance.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Instance)
    assert _states(replayed) == _states(instance)
    assert replayed.launched_at == instance.launched_at
    assert replayed.host == instance.host
    assert replayed.last_request == instance.last_request


def test_requested_events_stored_before_zones_read_back_with_no_zone() -> None:
    from dataclasses import replace as replace_stored

    from commands.app import CloudApp
    from domain.values import Actor as StoredActor
    from domain.values import FlavorSnapshot as StoredFlavor

    app = CloudApp()
    actor = StoredActor("u", "p", ("member",), "r")
    booted = Instance(
        project_id="p", user_id="u", name="old", flavor=StoredFlavor("1", "t", 1, 512, 1, 0, 0),
        image_id="img", networks=[], actor=actor,
    )  # fmt: skip
    stored = app.mapper.to_stored_event(booted.collect_events()[0])
    transcoder = app.mapper.transcoder
    for version, dropped in ((2, ("availability_zone", "forced_host")), (1, ("key_name",))):
        state = transcoder.decode(stored.state)
        state["networks"] = "none"  # a string before version 4
        for name in ("availability_zone", "forced_host", *dropped):
            state.pop(name, None)
        if version == 1:
            for name in ("key_data", "metadata", "description", "server_group"):
                state.pop(name)
            state.pop("class_version")
        else:
            state["class_version"] = version
        old = replace_stored(stored, state=transcoder.encode(state))
        instance = app.mapper.to_domain_event(old).mutate(None)  # type: ignore[attr-defined]
        assert (instance.zone_asked, instance.host_forced, instance.name) == ("", "", "old")
