"""The Volume aggregate: a block device a project keeps apart from its
servers, with Cinder's statuses (domain/volume_values.py). Its attachments
are domain/volume_attach.py, its copies into images domain/volume_upload.py."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor, require_metadata
from domain.volume_attach import Attaching
from domain.volume_details import VolumeDetails
from domain.volume_upload import Uploading
from domain.volume_values import (
    DELETABLE,
    SOURCE_KINDS,
    AttachStatus,
    VolumeStatus,
    require_label,
    require_size,
    status_asked,
)


class Volume(Attaching, Uploading, VolumeDetails):
    """A volume: made (blank, or from an image, a snapshot or another
    volume), attached, extended, snapshotted, deleted (its bytes zeroed)."""

    class Requested(Aggregate.Created):
        project_id: str
        user_id: str
        name: str
        description: str
        size: int  # GiB
        availability_zone: str
        volume_type_id: str
        volume_type_name: str
        multiattach: bool  # from its type: may it have several attachments
        source_kind: str  # "", "image", "snapshot" or "volume"
        source_id: str
        metadata: dict[str, str]
        image_metadata: dict[str, str]  # Cinder's volume_image_metadata
        bootable: bool
        actor: Actor

    @event(Requested)
    def __init__(
        self,
        project_id: str,
        user_id: str,
        name: str,
        description: str,
        size: int,
        availability_zone: str,
        volume_type_id: str,
        volume_type_name: str,
        multiattach: bool,
        source_kind: str,
        source_id: str,
        metadata: dict[str, str],
        image_metadata: dict[str, str],
        bootable: bool,
        actor: Actor,
    ) -> None:
        self.project_id, self.user_id = project_id, user_id
        self.name, self.description, self.size = name, description, size
        self.availability_zone = availability_zone
        self.volume_type_id, self.volume_type_name = volume_type_id, volume_type_name
        self.multiattach = multiattach
        self.source_kind, self.source_id = source_kind, source_id
        self.metadata, self.image_metadata = dict(metadata), dict(image_metadata)
        self.bootable, self.readonly = bootable, False
        self.status = VolumeStatus.CREATING
        # Who asked for it (its sources are checked against them again when
        # used), and the latest request a worker carries on.
        self.requester = self.last_request = actor
        self.host = ""  # the volume host that serves it, once made
        self.portal = ""  # and where (address:port)
        self.snapshot_ids: list[str] = []
        self.fault: str = ""
        self.extend_from: tuple[int, str] | None = None  # (size, status) before an extend
        self.holds_quota = True

    @staticmethod
    def validate(
        name: str, description: str, size: int, metadata: dict[str, str], source_kind: str
    ) -> None:
        """What a new volume must be, before anything is loaded or reserved."""
        require_label(name, description, "Volume")
        require_size(size)
        require_metadata(metadata)
        if source_kind not in SOURCE_KINDS:
            raise InvalidInput(f"Unknown volume source {source_kind!r}")

    @property
    def is_deleted(self) -> bool:
        return bool(self.__dict__.get("deleted", False))

    def visible_to(self, actor: Actor) -> bool:
        """Its project's users and admins see it; other tenants never do."""
        return not self.is_deleted and (actor.is_admin or self.project_id == actor.project_id)

    def _refuse(self, action: str) -> InvalidTransition:
        return InvalidTransition(f"volume {self.id}", f"status {self.status}", action)

    # Made by the volume host ------------------------------------------------

    def mark_downloading(self, actor: Actor) -> None:
        """The volume host started copying its image in."""
        if self.status == VolumeStatus.DOWNLOADING:
            return
        if self.status != VolumeStatus.CREATING or self.source_kind != "image":
            raise self._refuse("download")
        self._downloading(actor)

    class Downloading(Aggregate.Event):
        actor: Actor

    @event(Downloading)
    def _downloading(self, actor: Actor) -> None:
        self.status = VolumeStatus.DOWNLOADING

    def mark_available(self, host: str, portal: str, actor: Actor) -> None:
        """Its file exists and is exported by ``host`` at iSCSI ``portal``
        (address:port), where compute hosts reach it."""
        if self.status not in (VolumeStatus.CREATING, VolumeStatus.DOWNLOADING):
            raise self._refuse("finish creating")
        self._provisioned(host, portal, actor)

    class Provisioned(Aggregate.Event):
        host: str
        portal: str
        actor: Actor

    @event(Provisioned)
    def _provisioned(self, host: str, portal: str, actor: Actor) -> None:
        self.host, self.portal, self.status = host, portal, VolumeStatus.AVAILABLE
        for found in self.__dict__.get("attachment_map", {}).values():
            if found["status"] == AttachStatus.RESERVED:  # asked for at boot: it goes ahead
                found["status"] = AttachStatus.ATTACHING.value
        self._settle()

    def fail(self, message: str, actor: Actor) -> None:
        """It could not be made: error (it still holds its quota until deleted,
        as in Cinder). Attachments asked for at boot fail with it."""
        if self.status not in (VolumeStatus.CREATING, VolumeStatus.DOWNLOADING):
            raise self._refuse("fail")
        for attachment_id in self.attachments:
            self.fail_attach(attachment_id, message, actor)
        self._failed(message, actor)

    class Failed(Aggregate.Event):
        message: str
        actor: Actor

    @event(Failed)
    def _failed(self, message: str, actor: Actor) -> None:
        self.status, self.fault = VolumeStatus.ERROR, message

    # Deleting ----------------------------------------------------------------

    def request_delete(self, actor: Actor) -> None:
        """As in Cinder: only an unattached volume without snapshots, and not
        while another operation runs on it."""
        if self.status not in DELETABLE or self.attachments:
            raise InvalidInput(
                "Invalid volume: Volume status must be available or error or "
                "error_deleting or error_extending, and must not be attached "
                f"(it is {self.status})."
            )
        if self.snapshot_ids:
            raise InvalidInput(
                f"Invalid volume: Volume still has {len(self.snapshot_ids)} dependent snapshots."
            )
        self._delete_requested(actor)

    class DeleteRequested(Aggregate.Event):
        actor: Actor

    @event(DeleteRequested)
    def _delete_requested(self, actor: Actor) -> None:
        self.status, self.last_request = VolumeStatus.DELETING, actor

    def mark_deleted(self, actor: Actor) -> None:
        """Zeroed and removed; the caller releases its quota in the same save."""
        if self.status != VolumeStatus.DELETING:
            raise self._refuse("finish deleting")
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted, self.holds_quota = True, False

    def fail_delete(self, message: str, actor: Actor) -> None:
        if self.status != VolumeStatus.DELETING:
            raise self._refuse("fail deleting")
        self._delete_failed(message, actor)

    class DeleteFailed(Aggregate.Event):
        message: str
        actor: Actor

    @event(DeleteFailed)
    def _delete_failed(self, message: str, actor: Actor) -> None:
        self.status, self.fault = VolumeStatus.ERROR_DELETING, message

    # Extending -----------------------------------------------------------------

    def request_extend(self, new_size: int, actor: Actor, in_use: bool = False) -> None:
        """Grow it (the caller adjusts its quota in the same save); ``in_use``
        lets an attached volume grow too."""
        require_size(new_size, "New size")
        allowed = (
            (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE) if in_use else (VolumeStatus.AVAILABLE,)
        )
        if self.status not in allowed:
            raise InvalidInput(
                f"Invalid volume: Volume status must be {' or '.join(allowed)} to extend, "
                f"currently {self.status}."
            )
        if new_size <= self.size:
            raise InvalidInput(
                "Invalid input received: New size for extend must be greater than current "
                f"size. (current: {self.size}, extended: {new_size})."
            )
        self._extend_requested(new_size, actor)

    class ExtendRequested(Aggregate.Event):
        new_size: int
        actor: Actor

    @event(ExtendRequested)
    def _extend_requested(self, new_size: int, actor: Actor) -> None:
        self.extend_from = (self.size, str(self.status))
        self.new_size, self.status = new_size, VolumeStatus.EXTENDING
        self.last_request = actor

    def mark_extended(self, actor: Actor) -> None:
        if self.status != VolumeStatus.EXTENDING:
            raise self._refuse("finish extending")
        self._extended(self.new_size, actor)

    class Extended(Aggregate.Event):
        size: int
        actor: Actor

    @event(Extended)
    def _extended(self, size: int, actor: Actor) -> None:
        previous = self.extend_from[1] if self.extend_from else VolumeStatus.AVAILABLE
        self.size, self.status, self.extend_from = size, VolumeStatus(previous), None

    def fail_extend(self, message: str, actor: Actor) -> None:
        """Its size stays; Cinder's error_extending (the caller gives the
        quota back in the same save)."""
        if self.status != VolumeStatus.EXTENDING:
            raise self._refuse("fail extending")
        self._extend_failed(message, actor)

    class ExtendFailed(Aggregate.Event):
        message: str
        actor: Actor

    @event(ExtendFailed)
    def _extend_failed(self, message: str, actor: Actor) -> None:
        self.status, self.fault, self.extend_from = VolumeStatus.ERROR_EXTENDING, message, None

    # Snapshots of it (domain/volume_snapshot.py) -------------------------------

    def note_snapshot(self, snapshot_id: str, force: bool, actor: Actor) -> None:
        """A snapshot of it begins: it must be available, or attached with
        ``force`` (the bytes as they are, crash-consistent at best)."""
        attached = self.status == VolumeStatus.IN_USE
        if not (self.status == VolumeStatus.AVAILABLE or (attached and force)):
            hint = " (use force to snapshot an attached volume)" if attached else ""
            raise InvalidInput(
                f"Invalid volume: Volume {self.id} status must be available{hint}, "
                f"but current status is: {self.status}."
            )
        self._snapshot_taken(snapshot_id, actor)

    class SnapshotTaken(Aggregate.Event):
        snapshot_id: str
        actor: Actor

    @event(SnapshotTaken)
    def _snapshot_taken(self, snapshot_id: str, actor: Actor) -> None:
        self.snapshot_ids = [*self.snapshot_ids, snapshot_id]

    def forget_snapshot(self, snapshot_id: str, actor: Actor) -> None:
        if snapshot_id in self.snapshot_ids:
            self._snapshot_forgotten(snapshot_id, actor)

    class SnapshotForgotten(Aggregate.Event):
        snapshot_id: str
        actor: Actor

    @event(SnapshotForgotten)
    def _snapshot_forgotten(self, snapshot_id: str, actor: Actor) -> None:
        self.snapshot_ids = [s for s in self.snapshot_ids if s != snapshot_id]

    def reserve(self, actor: Actor) -> None:
        """Cinder's os-reserve: hold an available volume for an attach that is
        coming; it shows "attaching" until attached or unreserved."""
        if self.status != VolumeStatus.AVAILABLE or self.attachments:
            raise self._refuse("reserve")
        self._reserved(actor)

    class Reserved(Aggregate.Event):
        actor: Actor

    @event(Reserved)
    def _reserved(self, actor: Actor) -> None:
        self.held, self.status = True, VolumeStatus.ATTACHING

    def unreserve(self, actor: Actor) -> None:
        if self.__dict__.get("held"):
            self._unreserved(actor)

    class Unreserved(Aggregate.Event):
        actor: Actor

    @event(Unreserved)
    def _unreserved(self, actor: Actor) -> None:
        self.held = False
        self._settle()

    def reset_status(self, status: str, actor: Actor) -> None:
        """An admin's os-reset_status: any of Cinder's statuses, nothing else
        changes (attachments stay as they are)."""
        wanted = status_asked(VolumeStatus, status)
        if wanted != self.status:
            self._status_reset(wanted.value, actor)

    class StatusReset(Aggregate.Event):
        status: str
        actor: Actor

    @event(StatusReset)
    def _status_reset(self, status: str, actor: Actor) -> None:
        self.status = VolumeStatus(status)
        if self.status not in (VolumeStatus.EXTENDING,):
            self.extend_from = None

    # What the volume host's reconcile found and mended -------------------------

    def record_repair(self, repair: str, detail: str, actor: Actor) -> None:
        """tgt had drifted from the ledger and was put back (an export or an
        ACL entry restored, one removed): for the audit; nothing else changes."""
        self._drift_repaired(repair, detail, actor)

    class DriftRepaired(Aggregate.Event):
        repair: str  # export_restored, acl_restored, acl_removed, export_removed
        detail: str  # an initiator name or a file's name, never a secret
        actor: Actor

    @event(DriftRepaired)
    def _drift_repaired(self, repair: str, detail: str, actor: Actor) -> None:
        """The ledger records it; the volume itself is as it was."""
