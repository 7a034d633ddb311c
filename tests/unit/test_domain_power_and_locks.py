"""Power actions (domain/power.py) and locks on the Instance aggregate."""

from datetime import UTC, datetime

import pytest

from domain.errors import InstanceLocked, InvalidTransition
from domain.instance import Instance
from domain.values import Actor, FlavorSnapshot, PowerState, TaskState, VmState

USER = Actor("u1", "p1", ("member",), "req-1")
ADMIN = Actor("a1", "p1", ("admin",), "req-2")
WORKER = USER.as_service("compute")


def _active() -> Instance:
    flavor = FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0)
    instance = Instance(
        project_id="p1", user_id="u1", name="vm", flavor=flavor, image_id="img",
        networks=[], actor=USER,
    )  # fmt: skip
    instance.schedule_on("compute-1", WORKER)
    instance.mark_spawned(WORKER, now=datetime(2026, 12, 1, tzinfo=UTC))
    instance.collect_events()
    return instance


@pytest.mark.parametrize(
    ("steps", "vm", "power"),
    [
        (["reboot"], VmState.ACTIVE, PowerState.RUNNING),
        (["pause"], VmState.PAUSED, PowerState.PAUSED),
        (["pause", "unpause"], VmState.ACTIVE, PowerState.RUNNING),
        (["suspend"], VmState.SUSPENDED, PowerState.SUSPENDED),
        (["pause", "suspend", "resume"], VmState.ACTIVE, PowerState.RUNNING),
        (["suspend", "reboot_hard"], VmState.ACTIVE, PowerState.RUNNING),
    ],
)
def test_power_actions_run_as_tasks_and_end_in_their_state(
    steps: list[str], vm: VmState, power: PowerState
) -> None:
    instance = _active()
    for step in steps:
        instance.request_power_action(step, USER)
        assert instance.task_state is not None
        instance.mark_power_action_done(WORKER)
    assert (instance.vm_state, instance.task_state, instance.power_state) == (vm, None, power)


@pytest.mark.parametrize("action", ["unpause", "resume"])
def test_undoing_what_was_not_done_is_refused_and_changes_nothing(action: str) -> None:
    instance = _active()
    with pytest.raises(InvalidTransition):
        instance.request_power_action(action, USER)
    assert instance.collect_events() == []


def test_a_second_action_waits_for_the_first() -> None:
    instance = _active()
    instance.request_power_action("reboot", USER)
    assert instance.task_state == TaskState.REBOOTING
    with pytest.raises(InvalidTransition):
        instance.request_power_action("pause", USER)


def test_a_lock_refuses_the_owner_but_not_an_admin() -> None:
    instance = _active()
    instance.lock("", USER)
    with pytest.raises(InstanceLocked):
        instance.require_unlocked(USER)
    instance.require_unlocked(ADMIN)
    instance.unlock(USER)  # their own lock
    instance.require_unlocked(USER)


def test_an_admins_lock_is_lifted_only_by_an_admin() -> None:
    instance = _active()
    instance.lock("maintenance", ADMIN)
    with pytest.raises(InstanceLocked, match="administrator"):
        instance.unlock(USER)
    instance.unlock(ADMIN)
    assert not instance.locked
