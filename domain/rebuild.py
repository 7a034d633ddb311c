"""Rebuild (Nova's ``rebuild`` server action): the guest is built again on
its host from another (or the same) image; flavor, host and claim stay.

The events live on ``Rebuilding``, a base class of Instance, so the ledger
stores them as ``domain.rebuild:Rebuilding.<Event>``.
- RebuildRequested (API): the new image; REBUILD until the host is done.
- Rebuilt (compute host): the old guest and its disks are gone and the new
  one runs, or stays off if the server was off (as Nova leaves it)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidTransition
from domain.values import Actor, PowerState, TaskState, VmState


class Rebuilding(Aggregate):
    """The rebuild part of the Instance aggregate (see the module docstring)."""

    # Kept by Instance; declared here for the type checker.
    vm_state: VmState
    task_state: TaskState | None
    power_state: PowerState
    host: str | None
    image_id: str
    last_request: Actor

    @property
    def rebuild_restarts(self) -> bool:
        """Whether the rebuilt guest runs (the server ran when asked)."""
        return bool(self.__dict__.get("rebuild_running", True))

    def request_rebuild(self, image_id: str, actor: Actor) -> None:
        """From ACTIVE or SHUTOFF with no task running (409 otherwise)."""
        if self.vm_state not in (VmState.ACTIVE, VmState.STOPPED) or self.task_state:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, "rebuild")
        self._rebuild_requested(image_id, self.vm_state == VmState.ACTIVE, actor)

    class RebuildRequested(Aggregate.Event):
        image_id: str
        running: bool
        actor: Actor

    @event(RebuildRequested)
    def _rebuild_requested(self, image_id: str, running: bool, actor: Actor) -> None:
        self.image_id, self.rebuild_running = image_id, running
        self.task_state = TaskState.REBUILDING
        self.last_request = actor

    def mark_rebuilt(self, actor: Actor) -> None:
        if self.task_state != TaskState.REBUILDING:
            state = f"task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, "finish rebuild")
        self._rebuilt(self.rebuild_restarts, actor)

    class Rebuilt(Aggregate.Event):
        running: bool
        actor: Actor

    @event(Rebuilt)
    def _rebuilt(self, running: bool, actor: Actor) -> None:
        self.vm_state = VmState.ACTIVE if running else VmState.STOPPED
        self.power_state = PowerState.RUNNING if running else PowerState.SHUTDOWN
        self.task_state = None
