"""The VolumeSnapshot aggregate: a volume's bytes as they were, kept apart
(a file of its own on the volume host), from which new volumes are made."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor, require_metadata
from domain.volume_values import SnapshotStatus, require_label, status_asked

_DELETABLE = frozenset(
    {SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR, SnapshotStatus.ERROR_DELETING}
)


class VolumeSnapshot(Aggregate):
    """A snapshot: creating, available (or error), deleting, gone."""

    class Requested(Aggregate.Created):
        project_id: str
        user_id: str
        volume_id: str
        name: str
        description: str
        size: int  # its volume's size then, GiB
        volume_type_name: str
        metadata: dict[str, str]
        force: bool  # taken of an attached volume
        actor: Actor

    @event(Requested)
    def __init__(
        self,
        project_id: str,
        user_id: str,
        volume_id: str,
        name: str,
        description: str,
        size: int,
        volume_type_name: str,
        metadata: dict[str, str],
        force: bool,
        actor: Actor,
    ) -> None:
        self.project_id, self.user_id, self.volume_id = project_id, user_id, volume_id
        self.name, self.description, self.size = name, description, size
        self.volume_type_name = volume_type_name
        self.metadata, self.force = dict(metadata), force
        self.status = SnapshotStatus.CREATING
        self.fault = ""
        self.deleted = False

    @staticmethod
    def validate(name: str, description: str, metadata: dict[str, str]) -> None:
        require_label(name, description, "Snapshot")
        require_metadata(metadata)

    def visible_to(self, actor: Actor) -> bool:
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def _refuse(self, action: str) -> InvalidTransition:
        return InvalidTransition(f"snapshot {self.id}", f"status {self.status}", action)

    def mark_available(self, actor: Actor) -> None:
        if self.status != SnapshotStatus.CREATING:
            raise self._refuse("finish creating")
        self._made(actor)

    class Made(Aggregate.Event):
        actor: Actor

    @event(Made)
    def _made(self, actor: Actor) -> None:
        self.status = SnapshotStatus.AVAILABLE

    def fail(self, message: str, actor: Actor) -> None:
        if self.status != SnapshotStatus.CREATING:
            raise self._refuse("fail")
        self._failed(message, actor)

    class Failed(Aggregate.Event):
        message: str
        actor: Actor

    @event(Failed)
    def _failed(self, message: str, actor: Actor) -> None:
        self.status, self.fault = SnapshotStatus.ERROR, message

    def request_delete(self, actor: Actor) -> None:
        if self.status not in _DELETABLE:
            raise InvalidInput(
                "Invalid snapshot: Snapshot status must be available or error "
                f"or error_deleting (it is {self.status})."
            )
        self._delete_requested(actor)

    class DeleteRequested(Aggregate.Event):
        actor: Actor

    @event(DeleteRequested)
    def _delete_requested(self, actor: Actor) -> None:
        self.status = SnapshotStatus.DELETING

    def mark_deleted(self, actor: Actor) -> None:
        """Its file is gone; the caller releases its quota and tells its
        volume, in the same save."""
        if self.status != SnapshotStatus.DELETING:
            raise self._refuse("finish deleting")
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True

    def fail_delete(self, message: str, actor: Actor) -> None:
        if self.status != SnapshotStatus.DELETING:
            raise self._refuse("fail deleting")
        self._delete_failed(message, actor)

    class DeleteFailed(Aggregate.Event):
        message: str
        actor: Actor

    @event(DeleteFailed)
    def _delete_failed(self, message: str, actor: Actor) -> None:
        self.status, self.fault = SnapshotStatus.ERROR_DELETING, message

    def update(self, name: str, description: str, actor: Actor) -> None:
        require_label(name, description, "Snapshot")
        if (name, description) != (self.name, self.description):
            self._updated(name, description, actor)

    class Updated(Aggregate.Event):
        name: str
        description: str
        actor: Actor

    @event(Updated)
    def _updated(self, name: str, description: str, actor: Actor) -> None:
        self.name, self.description = name, description

    def set_metadata(self, metadata: dict[str, str], actor: Actor) -> None:
        require_metadata(metadata)
        if metadata != self.metadata:
            self._metadata_changed(dict(metadata), actor)

    class MetadataChanged(Aggregate.Event):
        metadata: dict[str, str]
        actor: Actor

    @event(MetadataChanged)
    def _metadata_changed(self, metadata: dict[str, str], actor: Actor) -> None:
        self.metadata = metadata

    def reset_status(self, status: str, actor: Actor) -> None:
        """An admin's os-reset_status."""
        wanted = status_asked(SnapshotStatus, status)
        if wanted != self.status:
            self._status_reset(wanted.value, actor)

    class StatusReset(Aggregate.Event):
        status: str
        actor: Actor

    @event(StatusReset)
    def _status_reset(self, status: str, actor: Actor) -> None:
        self.status = SnapshotStatus(status)
