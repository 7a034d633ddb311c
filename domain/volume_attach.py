"""A volume's attachments: the part of the Volume aggregate that says which
servers use it. Its events live on ``Attaching``, a base class of Volume,
so the ledger stores them as ``domain.volume_attach:Attaching.<Event>``.

An attachment goes reserved (asked for at boot, before the volume exists)
or attaching, then attached once the volume host has let the attachment's
initiator in (``AccessGranted``) and the compute host has plugged the disk
in; detaching, then gone once the compute host has unplugged it and the
volume host has taken the initiator off the ACL. The volume's status follows
its attachments (in-use while any is attached)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor
from domain.volume_values import AttachStatus, VolumeStatus

# Statuses in which attachments may come and go; any other (creating,
# extending, deleting, an error) belongs to another operation.
ATTACH_FAMILY = frozenset(
    {
        VolumeStatus.AVAILABLE,
        VolumeStatus.RESERVED,
        VolumeStatus.ATTACHING,
        VolumeStatus.IN_USE,
        VolumeStatus.DETACHING,
    }
)
_ERRORS = frozenset({VolumeStatus.ERROR, VolumeStatus.ERROR_DELETING, VolumeStatus.ERROR_EXTENDING})


class Attaching(Aggregate):
    """Attachments of a Volume: attachment id -> what it records."""

    status: VolumeStatus  # kept by Volume
    multiattach: bool

    @property
    def attachments(self) -> dict[str, dict[str, Any]]:
        return dict(self.__dict__.get("attachment_map", {}))

    def attachment(self, attachment_id: str) -> dict[str, Any]:
        found = self.__dict__.get("attachment_map", {}).get(attachment_id)
        if found is None:
            raise InvalidInput(f"Volume {self.id} has no attachment {attachment_id}")
        return dict(found)

    def attachment_of(self, server_id: str) -> str | None:
        """The id of the server's attachment of this volume, if any."""
        for attachment_id, found in self.attachments.items():
            if found["server_id"] == server_id:
                return attachment_id
        return None

    def _refuse(self, action: str) -> InvalidTransition:
        return InvalidTransition(f"volume {self.id}", f"status {self.status}", action)

    def reserve_attachment(
        self,
        attachment_id: str,
        server_id: str,
        host: str,
        device: str,
        actor: Actor,
        at_boot: bool = False,
    ) -> None:
        """Attach to a server: refused for a volume in error, deleting or
        another operation, and for one in use unless its type allows many
        attachments (never two to one server). At boot the volume may still
        be being made: the attachment waits for it."""
        if self.attachment_of(server_id) is not None:
            raise InvalidInput(f"Volume {self.id} is already attached to server {server_id}")
        making = self.status in (VolumeStatus.CREATING, VolumeStatus.DOWNLOADING)
        if self.status in _ERRORS or not (self.status in ATTACH_FAMILY or (making and at_boot)):
            raise self._refuse("attach")
        if self.attachments and not self.multiattach:
            raise InvalidTransition(f"volume {self.id}", "status in-use", "attach")
        self._attach_requested(attachment_id, server_id, host, device, actor)

    class AttachRequested(Aggregate.Event):
        attachment_id: str
        server_id: str
        host: str  # the server's compute host ("" before it has one)
        device: str  # where the server sees it, e.g. /dev/vdc
        actor: Actor

    @event(AttachRequested)
    def _attach_requested(
        self, attachment_id: str, server_id: str, host: str, device: str, actor: Actor
    ) -> None:
        making = self.status in (VolumeStatus.CREATING, VolumeStatus.DOWNLOADING)
        progress = AttachStatus.RESERVED if making else AttachStatus.ATTACHING
        self.__dict__["last_request"] = actor
        self.__dict__["held"] = False  # an os-reserve's hold is taken up
        attachments = self.__dict__.setdefault("attachment_map", {})
        attachments[attachment_id] = {
            "server_id": server_id,
            "host": host,
            "device": device,
            "status": progress.value,
            "attached_at": None,
            "access": False,
        }
        self._settle()

    def place_attachment(self, attachment_id: str, host: str, actor: Actor) -> None:
        """The server of a reserved attachment now has a host (a boot was scheduled)."""
        if self.attachment(attachment_id)["host"] != host:
            self._attachment_placed(attachment_id, host, actor)

    class AttachmentPlaced(Aggregate.Event):
        attachment_id: str
        host: str
        actor: Actor

    @event(AttachmentPlaced)
    def _attachment_placed(self, attachment_id: str, host: str, actor: Actor) -> None:
        self.__dict__["attachment_map"][attachment_id]["host"] = host

    def grant_access(self, attachment_id: str, actor: Actor) -> None:
        """The volume host let the attachment's initiator in; once is enough."""
        found = self.attachment(attachment_id)
        if found["status"] not in (AttachStatus.ATTACHING, AttachStatus.RESERVED):
            raise self._refuse("grant access")
        if not found["access"]:
            self._access_granted(attachment_id, actor)

    class AccessGranted(Aggregate.Event):
        attachment_id: str
        actor: Actor

    @event(AccessGranted)
    def _access_granted(self, attachment_id: str, actor: Actor) -> None:
        self.__dict__["attachment_map"][attachment_id]["access"] = True

    def mark_attached(self, attachment_id: str, now: datetime, actor: Actor) -> None:
        """The compute host plugged the disk into the server."""
        found = self.attachment(attachment_id)
        if found["status"] == AttachStatus.ATTACHED:
            return
        if found["status"] != AttachStatus.ATTACHING or not found["access"]:
            raise self._refuse("finish attaching")
        self._attached(attachment_id, now, actor)

    class Attached(Aggregate.Event):
        attachment_id: str
        attached_at: datetime
        actor: Actor

    @event(Attached)
    def _attached(self, attachment_id: str, attached_at: datetime, actor: Actor) -> None:
        found = self.__dict__["attachment_map"][attachment_id]
        found["status"], found["attached_at"] = AttachStatus.ATTACHED.value, attached_at
        self._settle()

    def fail_attach(self, attachment_id: str, message: str, actor: Actor) -> None:
        """The attach could not be done: the attachment goes, nothing else."""
        found = self.attachment(attachment_id)
        if found["status"] not in (AttachStatus.ATTACHING, AttachStatus.RESERVED):
            raise self._refuse("fail attaching")
        self._attach_failed(attachment_id, message, actor)

    class AttachFailed(Aggregate.Event):
        attachment_id: str
        message: str
        actor: Actor

    @event(AttachFailed)
    def _attach_failed(self, attachment_id: str, message: str, actor: Actor) -> None:
        del self.__dict__["attachment_map"][attachment_id]
        self._settle()

    def request_detach(
        self,
        attachment_id: str,
        actor: Actor,
        any_state: bool = False,
        delete_after: bool = False,
    ) -> None:
        """Detach an attached volume. ``any_state``: its server is being
        deleted, so an attach under way is undone too; ``delete_after``: the
        volume goes once detached (Nova's delete_on_termination)."""
        found = self.attachment(attachment_id)
        if found["status"] == AttachStatus.DETACHING:
            return
        if found["status"] != AttachStatus.ATTACHED and not any_state:
            raise self._refuse("detach")
        self._detach_requested(attachment_id, delete_after, actor)

    class DetachRequested(Aggregate.Event):
        attachment_id: str
        delete_after: bool
        actor: Actor

    @event(DetachRequested)
    def _detach_requested(self, attachment_id: str, delete_after: bool, actor: Actor) -> None:
        self.__dict__["last_request"] = actor
        found = self.__dict__["attachment_map"][attachment_id]
        found["status"], found["delete_after"] = AttachStatus.DETACHING.value, delete_after
        self._settle()

    def mark_unplugged(self, attachment_id: str, actor: Actor) -> None:
        """The compute host took the disk out of the server (or it never had it)."""
        found = self.attachment(attachment_id)
        if found["status"] != AttachStatus.DETACHING:
            raise self._refuse("finish unplugging")
        if not found.get("unplugged"):
            self._unplugged(attachment_id, actor)

    class Unplugged(Aggregate.Event):
        attachment_id: str
        actor: Actor

    @event(Unplugged)
    def _unplugged(self, attachment_id: str, actor: Actor) -> None:
        self.__dict__["attachment_map"][attachment_id]["unplugged"] = True

    def mark_detached(self, attachment_id: str, actor: Actor) -> None:
        """The volume host took the attachment's initiator off the ACL."""
        if attachment_id not in self.attachments:
            return
        found = self.attachment(attachment_id)
        if found["status"] != AttachStatus.DETACHING or not found.get("unplugged"):
            raise self._refuse("finish detaching")
        self._detached(attachment_id, actor)

    class Detached(Aggregate.Event):
        attachment_id: str
        actor: Actor

    @event(Detached)
    def _detached(self, attachment_id: str, actor: Actor) -> None:
        del self.__dict__["attachment_map"][attachment_id]
        self._settle()

    def fail_detach(self, attachment_id: str, message: str, actor: Actor) -> None:
        """The guest kept the disk (it did not answer the unplug): still attached."""
        found = self.attachment(attachment_id)
        if found["status"] != AttachStatus.DETACHING or found.get("unplugged"):
            raise self._refuse("fail detaching")
        self._detach_failed(attachment_id, message, actor)

    class DetachFailed(Aggregate.Event):
        attachment_id: str
        message: str
        actor: Actor

    @event(DetachFailed)
    def _detach_failed(self, attachment_id: str, message: str, actor: Actor) -> None:
        self.__dict__["attachment_map"][attachment_id]["status"] = AttachStatus.ATTACHED.value
        self._settle()

    def _settle(self) -> None:
        states = [a["status"] for a in self.__dict__.get("attachment_map", {}).values()]
        self.status = settled_status(self.status, states, bool(self.__dict__.get("held")))


def settled_status(
    current: str, attachment_states: Iterable[str], held: bool = False
) -> VolumeStatus:
    """A volume's status from its attachments' (the read model decides it the
    same way), while no other operation (being made, extended, deleted, an
    error) owns the status. ``held``: os-reserve holds it ("attaching")."""
    if current not in ATTACH_FAMILY:
        return VolumeStatus(current)
    states = set(attachment_states)
    if AttachStatus.DETACHING in states:
        return VolumeStatus.DETACHING
    if AttachStatus.ATTACHING in states or AttachStatus.RESERVED in states:
        return VolumeStatus.ATTACHING
    if AttachStatus.ATTACHED in states:
        return VolumeStatus.IN_USE
    return VolumeStatus.ATTACHING if held else VolumeStatus.AVAILABLE
