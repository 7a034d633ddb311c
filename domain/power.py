"""Power actions on a running server, as Nova defines them: which states
each may start from, the task it runs as, and the state it ends in. The
Instance aggregate, the compute job and the API all read this table."""

from __future__ import annotations

from dataclasses import dataclass

from domain.values import PowerState, TaskState, VmState


@dataclass(frozen=True)
class PowerAction:
    name: str  # Nova's instance action name
    allowed_from: tuple[VmState, ...]
    task: TaskState
    ends_in: VmState
    power: PowerState


_ACTIONS = (
    PowerAction(
        "reboot", (VmState.ACTIVE,), TaskState.REBOOTING, VmState.ACTIVE, PowerState.RUNNING
    ),
    PowerAction(
        "reboot_hard",
        (VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED),
        TaskState.REBOOTING_HARD,
        VmState.ACTIVE,
        PowerState.RUNNING,
    ),
    PowerAction("pause", (VmState.ACTIVE,), TaskState.PAUSING, VmState.PAUSED, PowerState.PAUSED),
    PowerAction(
        "unpause", (VmState.PAUSED,), TaskState.UNPAUSING, VmState.ACTIVE, PowerState.RUNNING
    ),
    PowerAction(
        "suspend",
        (VmState.ACTIVE, VmState.PAUSED),
        TaskState.SUSPENDING,
        VmState.SUSPENDED,
        PowerState.SUSPENDED,
    ),
    PowerAction(
        "resume", (VmState.SUSPENDED,), TaskState.RESUMING, VmState.ACTIVE, PowerState.RUNNING
    ),
)
POWER_ACTIONS: dict[str, PowerAction] = {a.name: a for a in _ACTIONS}
BY_TASK: dict[TaskState, PowerAction] = {a.task: a for a in _ACTIONS}
