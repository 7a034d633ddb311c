"""The Instance aggregate: a virtual machine's lifecycle, Nova's state model."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import instance_requested as asked
from domain.access_addresses import AccessAddressing
from domain.errors import InstanceLocked, InvalidTransition
from domain.faults import bounded, legacy_fault
from domain.instance_ports import Interfacing
from domain.instance_volumes import InstanceVolumes
from domain.power import BY_TASK, POWER_ACTIONS
from domain.rebuild import Rebuilding
from domain.resize import Resizing
from domain.tags import Tagging
from domain.values import (
    Actor,
    FlavorSnapshot,
    NetworkRequest,
    PowerState,
    TaskState,
    VmState,
    require_metadata,
    require_text,
)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


class Instance(
    Resizing, Rebuilding, Tagging, AccessAddressing, Interfacing, InstanceVolumes, asked.AskedAtBoot
):
    """A server: requested, scheduled to a host, spawned, stopped, resized
    (domain/resize.py), rebuilt (domain/rebuild.py), tagged (domain/tags.py),
    given access addresses (domain/access_addresses.py), ports
    (domain/instance_ports.py) and volumes (domain/instance_volumes.py), deleted."""

    class Requested(Aggregate.Created):
        project_id: str
        user_id: str
        name: str
        flavor: FlavorSnapshot
        image_id: str
        networks: list[NetworkRequest]  # version 3 and before: "none" or "auto"
        actor: Actor
        key_name: str  # the booting user's keypair, "" for none
        key_data: str  # its public key, as the guest will get it
        metadata: dict[str, str]
        description: str
        server_group: str  # the ServerGroup it joined, "" for none
        availability_zone: str  # asked for at boot, "" for any
        forced_host: str  # an admin's AZ:HOST, which skips the filters; "" for none

        class_version = 4
        upcast_v1_v2 = staticmethod(asked.requested_v1_v2)
        upcast_v2_v3 = staticmethod(asked.requested_v2_v3)
        upcast_v3_v4 = staticmethod(asked.requested_v3_v4)

    @event(Requested)
    def __init__(
        self,
        project_id: str,
        user_id: str,
        name: str,
        flavor: FlavorSnapshot,
        image_id: str,
        networks: list[NetworkRequest],
        actor: Actor,
        key_name: str = "",
        key_data: str = "",
        metadata: dict[str, str] | None = None,
        description: str = "",
        server_group: str = "",
        availability_zone: str = "",
        forced_host: str = "",
        id: UUID | None = None,  # the boot's, which its ports name; else a new one
    ) -> None:
        self.project_id, self.user_id, self.name = project_id, user_id, name
        self.flavor, self.image_id = flavor, image_id
        self.networks = list(networks)
        self.key_name, self.key_data = key_name, key_data
        self.metadata = dict(metadata or {})
        self.description, self.server_group = description, server_group
        self.availability_zone, self.forced_host = availability_zone, forced_host
        self.vm_state = VmState.BUILDING
        self.task_state: TaskState | None = TaskState.SCHEDULING
        self.power_state = PowerState.NOSTATE
        self.host: str | None = None
        self.fault: dict[str, object] | None = None
        self.holds_quota = True
        self.holds_claim = False
        self.launched_at: datetime | None = None
        # Worker events carry the request id of the user action they complete.
        self.last_request = actor

    @property
    def is_deleted(self) -> bool:
        return self.vm_state == VmState.DELETED

    def visible_to(self, actor: Actor) -> bool:
        """Its project's users and admins see it; other tenants never do."""
        return actor.is_admin or self.project_id == actor.project_id

    def _require(self, action: str, vm: VmState | None, task: TaskState | None) -> None:
        if (vm is not None and self.vm_state != vm) or self.task_state != task:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, action)

    def schedule_on(self, host: str, actor: Actor) -> None:
        self._require("schedule", VmState.BUILDING, TaskState.SCHEDULING)
        self._scheduled(host, actor)

    class Scheduled(Aggregate.Event):
        host: str
        actor: Actor

    @event(Scheduled)
    def _scheduled(self, host: str, actor: Actor) -> None:
        self.host, self.task_state, self.holds_claim = host, TaskState.SPAWNING, True

    def mark_spawned(self, actor: Actor, *, now: datetime) -> None:
        self._require("finish spawning", VmState.BUILDING, TaskState.SPAWNING)
        self._spawned(now, actor)

    class Spawned(Aggregate.Event):
        launched_at: datetime
        actor: Actor

    @event(Spawned)
    def _spawned(self, launched_at: datetime, actor: Actor) -> None:
        self.vm_state, self.task_state = VmState.ACTIVE, None
        self.power_state = PowerState.RUNNING
        self.launched_at = launched_at

    def fail(
        self, message: str, code: int, actor: Actor, details: str = "", *, now: datetime
    ) -> None:
        """Record a fault, made at ``now`` (domain/faults.py says who sees what).
        A failed build frees its claim and quota (the caller releases them in
        the same save); a later failure keeps them: the guest may exist until
        it is deleted."""
        if self.is_deleted or self.task_state == TaskState.DELETING:
            raise InvalidTransition(f"instance {self.id}", self.vm_state, "fail")
        message, details = bounded(message, details)
        self._failed(message, code, now, actor, details)

    class Failed(Aggregate.Event):
        message: str  # for the server's owner: names no host, path or command
        code: int
        at: datetime
        actor: Actor
        details: str  # for admins: the host's error; "" for none

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 had one message, which could name the host's paths."""
            state["message"], state["details"] = legacy_fault(state["message"])

    @event(Failed)
    def _failed(self, message: str, code: int, at: datetime, actor: Actor, details: str) -> None:
        if self.vm_state == VmState.BUILDING:
            self.holds_quota = self.holds_claim = False
        self.vm_state, self.task_state = VmState.ERROR, None
        self.fault = {"message": message, "code": code, "created": at, "details": details}

    def request_stop(self, actor: Actor) -> None:
        self._require("stop", VmState.ACTIVE, None)
        self._stop_requested(actor)

    class StopRequested(Aggregate.Event):
        actor: Actor

    @event(StopRequested)
    def _stop_requested(self, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = TaskState.POWERING_OFF

    def mark_stopped(self, actor: Actor) -> None:
        self._require("finish stopping", VmState.ACTIVE, TaskState.POWERING_OFF)
        self._stopped(actor)

    class Stopped(Aggregate.Event):
        actor: Actor

    @event(Stopped)
    def _stopped(self, actor: Actor) -> None:
        self.vm_state, self.task_state = VmState.STOPPED, None
        self.power_state = PowerState.SHUTDOWN

    def request_start(self, actor: Actor) -> None:
        self._require("start", VmState.STOPPED, None)
        self._start_requested(actor)

    class StartRequested(Aggregate.Event):
        actor: Actor

    @event(StartRequested)
    def _start_requested(self, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = TaskState.POWERING_ON

    def mark_started(self, actor: Actor) -> None:
        self._require("finish starting", VmState.STOPPED, TaskState.POWERING_ON)
        self._started(actor)

    class Started(Aggregate.Event):
        actor: Actor

    @event(Started)
    def _started(self, actor: Actor) -> None:
        self.vm_state, self.task_state = VmState.ACTIVE, None
        self.power_state = PowerState.RUNNING

    @property
    def needs_host_cleanup(self) -> bool:
        """Whether deleting must go through the compute host (a domain or disks)."""
        return self.host is not None

    def request_delete(self, actor: Actor) -> None:
        """Allowed in any live state; asking again while deleting re-issues the
        host cleanup (as Nova allows), e.g. after a failed attempt."""
        if self.is_deleted:
            raise InvalidTransition(f"instance {self.id}", "deleted", "delete")
        self._delete_requested(actor)

    class DeleteRequested(Aggregate.Event):
        actor: Actor

    @event(DeleteRequested)
    def _delete_requested(self, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = TaskState.DELETING

    def mark_deleted(self, actor: Actor) -> None:
        """Final event; the caller releases any claim and quota in the same save."""
        if self.is_deleted or self.task_state != TaskState.DELETING:
            raise InvalidTransition(f"instance {self.id}", self.vm_state, "finish deleting")
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.vm_state, self.task_state = VmState.DELETED, None
        self.power_state = PowerState.NOSTATE
        self.holds_quota = self.holds_claim = False

    # Reboot, pause, suspend and their undoing (domain/power.py) -----------

    def request_power_action(self, name: str, actor: Actor) -> None:
        action = POWER_ACTIONS[name]
        if self.vm_state not in action.allowed_from or self.task_state is not None:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, name.replace("_", " "))
        self._power_action_requested(name, actor)

    class PowerActionRequested(Aggregate.Event):
        action: str
        actor: Actor

    @event(PowerActionRequested)
    def _power_action_requested(self, action: str, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = POWER_ACTIONS[action].task

    def mark_power_action_done(self, actor: Actor) -> None:
        action = BY_TASK.get(self.task_state) if self.task_state else None
        if action is None:
            raise InvalidTransition(f"instance {self.id}", self.vm_state, "finish power action")
        self._power_action_done(action.name, actor)

    class PowerActionDone(Aggregate.Event):
        action: str
        actor: Actor

    @event(PowerActionDone)
    def _power_action_done(self, action: str, actor: Actor) -> None:
        done = POWER_ACTIONS[action]
        self.vm_state, self.task_state, self.power_state = done.ends_in, None, done.power

    # Snapshots: the root disk becomes an image (createImage) ---------------

    def request_snapshot(self, image_id: str, actor: Actor) -> None:
        """The caller creates the (queued) image in the same save."""
        live = (VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED)
        if self.vm_state not in live or self.task_state is not None:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, "createImage")
        self._snapshot_requested(image_id, actor)

    class SnapshotRequested(Aggregate.Event):
        image_id: str
        actor: Actor

    @event(SnapshotRequested)
    def _snapshot_requested(self, image_id: str, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = TaskState.IMAGE_SNAPSHOT
        self.snapshot_image_id = image_id

    def mark_snapshot_done(self, succeeded: bool, actor: Actor) -> None:
        """The host uploaded the root disk (or could not: the image stays queued)."""
        if self.task_state != TaskState.IMAGE_SNAPSHOT:
            raise InvalidTransition(f"instance {self.id}", self.vm_state, "finish snapshot")
        self._snapshot_done(self.snapshot_image_id, succeeded, actor)

    class SnapshotDone(Aggregate.Event):
        image_id: str
        succeeded: bool
        actor: Actor

    @event(SnapshotDone)
    def _snapshot_done(self, image_id: str, succeeded: bool, actor: Actor) -> None:
        self.task_state = None

    # Locks: a locked server refuses changes from anyone but admins ---------

    @property
    def locked(self) -> bool:
        return bool(self.__dict__.get("lock_reason") is not None)

    def require_unlocked(self, actor: Actor) -> None:
        if self.locked and not actor.is_admin:
            raise InstanceLocked(f"Instance {self.id} is locked")

    def lock(self, reason: str, actor: Actor) -> None:
        require_text(reason, "Lock reason", allow_empty=True)
        if not self.locked:
            self._locked(reason, actor)

    class Locked(Aggregate.Event):
        reason: str
        actor: Actor

    @event(Locked)
    def _locked(self, reason: str, actor: Actor) -> None:
        self.lock_reason: str | None = reason
        self.locked_by_admin = actor.is_admin

    def unlock(self, actor: Actor) -> None:
        """The owner may unlock their own lock; an admin's lock, only admins."""
        if not self.locked:
            return
        if self.__dict__.get("locked_by_admin") and not actor.is_admin:
            raise InstanceLocked(f"Instance {self.id} was locked by an administrator")
        self._unlocked(actor)

    class Unlocked(Aggregate.Event):
        actor: Actor

    @event(Unlocked)
    def _unlocked(self, actor: Actor) -> None:
        self.lock_reason = None

    # What users change without a job: metadata, name, description --------

    def set_metadata(self, metadata: dict[str, str], actor: Actor) -> None:
        """The whole new metadata (the caller merged or replaced). As in Nova,
        only while the server is active or stopped and no task runs."""
        if self.vm_state not in (VmState.ACTIVE, VmState.STOPPED) or self.task_state:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, "update metadata")
        require_metadata(metadata)
        if metadata != self.metadata:
            self._metadata_changed(dict(metadata), actor)

    class MetadataChanged(Aggregate.Event):
        metadata: dict[str, str]
        actor: Actor

    @event(MetadataChanged)
    def _metadata_changed(self, metadata: dict[str, str], actor: Actor) -> None:
        self.metadata = metadata

    def update(self, name: str, description: str, actor: Actor) -> None:
        """Rename, or describe (``PUT /servers/{id}``)."""
        if self.is_deleted:
            raise InvalidTransition(f"instance {self.id}", "deleted", "update")
        require_text(name, "Server name")
        require_text(description, "Server description", allow_empty=True)
        if (name, description) != (self.name, self.description):
            self._updated(name, description, actor)

    class Updated(Aggregate.Event):
        name: str
        description: str
        actor: Actor

    @event(Updated)
    def _updated(self, name: str, description: str, actor: Actor) -> None:
        self.name, self.description = name, description
