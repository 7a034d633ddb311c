"""Each state of a server named once: the enums (domain/values.py) are the
names, their values are what the read model stores (projections/servers.py
passes them, never a literal), and this table is how the Compute API shows
each one (Nova's status and power-state codes). A state missing here is a
failing unit test, not a 500 on the first server in it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.values import PowerState, TaskState, VmState

# vm_state -> the server's status.
VM_STATUS: Mapping[VmState, str] = MappingProxyType(
    {
        VmState.BUILDING: "BUILD",
        VmState.ACTIVE: "ACTIVE",
        VmState.STOPPED: "SHUTOFF",
        VmState.PAUSED: "PAUSED",
        VmState.SUSPENDED: "SUSPENDED",
        VmState.RESIZED: "VERIFY_RESIZE",
        VmState.ERROR: "ERROR",
        VmState.DELETED: "DELETED",
    }
)

# task_state -> the status it shows while it runs, as in Nova; None: the
# vm_state's status shows.
TASK_STATUS: Mapping[TaskState, str | None] = MappingProxyType(
    {
        TaskState.SCHEDULING: None,
        TaskState.SPAWNING: None,
        TaskState.POWERING_OFF: None,
        TaskState.POWERING_ON: None,
        TaskState.REBOOTING: "REBOOT",
        TaskState.REBOOTING_HARD: "HARD_REBOOT",
        TaskState.PAUSING: None,
        TaskState.UNPAUSING: None,
        TaskState.SUSPENDING: None,
        TaskState.RESUMING: None,
        TaskState.IMAGE_SNAPSHOT: None,
        TaskState.RESIZE_PREP: "RESIZE",
        TaskState.RESIZE_MIGRATING: "RESIZE",
        TaskState.RESIZE_MIGRATED: "RESIZE",
        TaskState.RESIZE_REVERTING: "REVERT_RESIZE",
        TaskState.REBUILDING: "REBUILD",
        TaskState.DELETING: None,
    }
)

# power_state -> Nova's integer code (OS-EXT-STS:power_state).
POWER_CODE: Mapping[PowerState, int] = MappingProxyType(
    {
        PowerState.NOSTATE: 0,
        PowerState.RUNNING: 1,
        PowerState.PAUSED: 3,
        PowerState.SHUTDOWN: 4,
        PowerState.SUSPENDED: 7,
    }
)


# The vm_states in which a server's guest is defined on its host, so its
# console can be read (the others are refused, as Nova refuses them).
CONSOLE_READABLE: frozenset[VmState] = frozenset(
    {VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED}
)


def status(vm_state: str, task_state: str | None) -> str:
    """The status of a server in these states (as stored: the enums' values)."""
    shown = TASK_STATUS[TaskState(task_state)] if task_state else None
    return shown or VM_STATUS[VmState(vm_state)]


def power_code(power_state: str) -> int:
    """Nova's code of a stored power state."""
    return POWER_CODE[PowerState(power_state)]


def vm_states_shown_as(shown: str) -> tuple[str, ...]:
    """The stored vm_states whose status is ``shown`` (a status filter)."""
    return tuple(vm.value for vm, status_ in VM_STATUS.items() if status_ == shown)


def task_states_shown_as(shown: str) -> tuple[str, ...]:
    return tuple(task.value for task, status_ in TASK_STATUS.items() if status_ == shown)


def left(is_running: bool) -> VmState:
    """Where the end of a resize (or its revert) leaves a server: as its guest was."""
    return VmState.ACTIVE if is_running else VmState.STOPPED


def running(is_running: bool) -> PowerState:
    """The power state a guest left running (or not) is in."""
    return PowerState.RUNNING if is_running else PowerState.SHUTDOWN
