"""A server's volumes: the part of the Instance aggregate that hands out
device names and remembers what goes with the server (Nova's block device
mappings). Its events live on ``InstanceVolumes``, a base class of
Instance, so the ledger stores them as
``domain.instance_volumes:InstanceVolumes.<Event>``.

The Volume aggregate keeps the other half (domain/volume_attach.py); a
command changes both in one save."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor, TaskState, VmState
from domain.volume_values import ROOT_DEVICE, next_device

# Nova attaches and detaches volumes of servers in these states (and no task).
ATTACHABLE_STATES = frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED})


class InstanceVolumes(Aggregate):
    """volume id -> its attachment id, device, delete_on_termination, status."""

    vm_state: VmState  # kept by Instance
    task_state: TaskState | None

    @property
    def volumes(self) -> dict[str, dict[str, Any]]:
        # Snapshots taken before volumes existed lack the map.
        return {k: dict(v) for k, v in self.__dict__.get("volume_map", {}).items()}

    @property
    def root_volume_id(self) -> str | None:
        """The volume it boots from, if it boots from one."""
        for volume_id, found in self.volumes.items():
            if found["device"] == ROOT_DEVICE:
                return volume_id
        return None

    def _volume(self, volume_id: str) -> dict[str, Any]:
        found = self.volumes.get(volume_id)
        if found is None:
            raise InvalidInput(f"Volume {volume_id} is not attached to instance {self.id}")
        return found

    def _require_attachable(self, action: str) -> None:
        if self.vm_state not in ATTACHABLE_STATES or self.task_state is not None:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, action)

    def request_volume_attach(
        self, volume_id: str, attachment_id: str, delete_on_termination: bool, actor: Actor
    ) -> str:
        """Attach a volume to the running (or stopped, paused, suspended)
        server; returns the device it gets: the first free of vdc, vdd ..."""
        self._require_attachable("attach_volume")
        if volume_id in self.volumes:
            raise InvalidInput(f"Volume {volume_id} is already attached to instance {self.id}")
        device = next_device(v["device"] for v in self.volumes.values())
        self._volume_attach_requested(
            volume_id, attachment_id, device, delete_on_termination, actor
        )
        return device

    def request_boot_volume(
        self,
        volume_id: str,
        attachment_id: str,
        root: bool,
        delete_on_termination: bool,
        actor: Actor,
    ) -> str:
        """A volume asked for in the boot request (block_device_mapping_v2):
        the root disk (vda) or the next free device. Only before scheduling."""
        if self.vm_state != VmState.BUILDING or self.task_state != TaskState.SCHEDULING:
            raise InvalidTransition(f"instance {self.id}", str(self.vm_state), "map volume")
        if volume_id in self.volumes:
            raise InvalidInput(f"Volume {volume_id} is given twice")
        if root and self.root_volume_id is not None:
            raise InvalidInput("Only one volume can be the root disk (boot_index 0)")
        used = [v["device"] for v in self.volumes.values()]
        device = ROOT_DEVICE if root else next_device(used)
        self._volume_attach_requested(
            volume_id, attachment_id, device, delete_on_termination, actor
        )
        return device

    class VolumeAttachRequested(Aggregate.Event):
        volume_id: str
        attachment_id: str
        device: str
        delete_on_termination: bool
        actor: Actor

    @event(VolumeAttachRequested)
    def _volume_attach_requested(
        self,
        volume_id: str,
        attachment_id: str,
        device: str,
        delete_on_termination: bool,
        actor: Actor,
    ) -> None:
        volumes = self.__dict__.setdefault("volume_map", {})
        volumes[volume_id] = {
            "attachment_id": attachment_id,
            "device": device,
            "delete_on_termination": delete_on_termination,
            "status": "attaching",
        }

    def mark_volume_attached(self, volume_id: str, actor: Actor) -> None:
        if self._volume(volume_id)["status"] != "attached":
            self._volume_attached(volume_id, actor)

    class VolumeAttached(Aggregate.Event):
        volume_id: str
        actor: Actor

    @event(VolumeAttached)
    def _volume_attached(self, volume_id: str, actor: Actor) -> None:
        self.__dict__["volume_map"][volume_id]["status"] = "attached"

    def fail_volume_attach(self, volume_id: str, message: str, actor: Actor) -> None:
        if volume_id in self.volumes:
            self._volume_attach_failed(volume_id, message, actor)

    class VolumeAttachFailed(Aggregate.Event):
        volume_id: str
        message: str
        actor: Actor

    @event(VolumeAttachFailed)
    def _volume_attach_failed(self, volume_id: str, message: str, actor: Actor) -> None:
        del self.__dict__["volume_map"][volume_id]

    def request_volume_detach(self, volume_id: str, actor: Actor) -> str:
        """Detach a volume the server has; returns its attachment id. Not the
        root disk, and not while it is still being attached."""
        found = self._volume(volume_id)
        self._require_attachable("detach_volume")
        if found["device"] == ROOT_DEVICE:
            raise InvalidInput(f"Cannot detach a root device volume ({volume_id})")
        if found["status"] != "attached":
            state = f"volume {found['status']}"
            raise InvalidTransition(f"instance {self.id}", state, "detach_volume")
        self._volume_detach_requested(volume_id, actor)
        return str(found["attachment_id"])

    class VolumeDetachRequested(Aggregate.Event):
        volume_id: str
        actor: Actor

    @event(VolumeDetachRequested)
    def _volume_detach_requested(self, volume_id: str, actor: Actor) -> None:
        self.__dict__["volume_map"][volume_id]["status"] = "detaching"

    def mark_volume_detached(self, volume_id: str, actor: Actor) -> None:
        if volume_id in self.volumes:
            self._volume_detached(volume_id, actor)

    class VolumeDetached(Aggregate.Event):
        volume_id: str
        actor: Actor

    @event(VolumeDetached)
    def _volume_detached(self, volume_id: str, actor: Actor) -> None:
        del self.__dict__["volume_map"][volume_id]

    def fail_volume_detach(self, volume_id: str, message: str, actor: Actor) -> None:
        """The guest kept the disk: it stays attached."""
        if self.volumes.get(volume_id, {}).get("status") == "detaching":
            self._volume_detach_failed(volume_id, message, actor)

    class VolumeDetachFailed(Aggregate.Event):
        volume_id: str
        message: str
        actor: Actor

    @event(VolumeDetachFailed)
    def _volume_detach_failed(self, volume_id: str, message: str, actor: Actor) -> None:
        self.__dict__["volume_map"][volume_id]["status"] = "attached"


VOLUME_EVENTS: tuple[type[Aggregate.Event], ...] = (
    InstanceVolumes.VolumeAttachRequested,
    InstanceVolumes.VolumeAttached,
    InstanceVolumes.VolumeAttachFailed,
    InstanceVolumes.VolumeDetachRequested,
    InstanceVolumes.VolumeDetached,
    InstanceVolumes.VolumeDetachFailed,
)
