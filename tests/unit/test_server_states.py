"""Each server state is named once (domain/server_states.py): every value of
every state enum has its API status, and the status filter and the
rendering agree with it."""

from __future__ import annotations

import pytest

from domain import server_states
from domain.values import PowerState, TaskState, VmState

NOVA_STATUSES = {
    "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "PAUSED", "REBOOT", "REBUILD", "RESIZE",
    "REVERT_RESIZE", "SHUTOFF", "SUSPENDED", "VERIFY_RESIZE",
}  # fmt: skip


@pytest.mark.parametrize("vm_state", list(VmState))
def test_every_vm_state_shows_as_one_of_nova_s_statuses(vm_state: VmState) -> None:
    assert server_states.VM_STATUS[vm_state] in NOVA_STATUSES


@pytest.mark.parametrize("task_state", list(TaskState))
def test_every_task_state_says_how_it_shows(task_state: TaskState) -> None:
    assert task_state in server_states.TASK_STATUS  # None: the vm_state's status
    assert server_states.TASK_STATUS[task_state] in {*NOVA_STATUSES, None}


@pytest.mark.parametrize("power_state", list(PowerState))
def test_every_power_state_has_nova_s_code(power_state: PowerState) -> None:
    assert server_states.power_code(power_state.value) in {0, 1, 3, 4, 7}


def test_the_tables_name_no_state_the_enums_do_not() -> None:
    assert set(server_states.VM_STATUS) == set(VmState)
    assert set(server_states.TASK_STATUS) == set(TaskState)
    assert set(server_states.POWER_CODE) == set(PowerState)


@pytest.mark.parametrize(
    ("vm_state", "task_state", "status"),
    [
        (VmState.ACTIVE, None, "ACTIVE"),
        (VmState.ACTIVE, TaskState.REBOOTING, "REBOOT"),
        (VmState.ACTIVE, TaskState.POWERING_OFF, "ACTIVE"),
        (VmState.STOPPED, None, "SHUTOFF"),
        (VmState.RESIZED, None, "VERIFY_RESIZE"),
        (VmState.BUILDING, TaskState.SCHEDULING, "BUILD"),
    ],
)
def test_a_running_task_shows_only_if_nova_shows_it(
    vm_state: VmState, task_state: TaskState | None, status: str
) -> None:
    stored_task = task_state.value if task_state else None
    assert server_states.status(vm_state.value, stored_task) == status


@pytest.mark.parametrize("status", sorted(NOVA_STATUSES))
def test_filtering_by_a_status_finds_exactly_the_states_shown_as_it(status: str) -> None:
    vm_states = server_states.vm_states_shown_as(status)
    task_states = server_states.task_states_shown_as(status)
    assert vm_states or task_states
    for vm in vm_states:
        assert server_states.status(vm, None) == status
    for task in task_states:
        assert server_states.status(VmState.ACTIVE.value, task) == status


def test_a_console_is_read_only_of_a_server_whose_guest_is_defined() -> None:
    shown = {server_states.VM_STATUS[vm] for vm in server_states.CONSOLE_READABLE}
    assert shown == {"ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"}
