"""VolumeCommands: block storage's commands as the API calls them, each
retried on a concurrent change to the aggregates it saves."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eventsourcing.persistence import IntegrityError

from commands import (
    volume_actions,
    volume_attachments,
    volume_snapshots,
    volume_types,
    volume_upload,
    volumes,
)
from commands.app import CloudApp
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Conflict
from domain.values import Actor

CreateRequest = tuple[volumes.CreateVolume, Actor]
Metadata = dict[str, str]


class VolumeCommands:
    """Every block storage command, ready to call from a thread."""

    def __init__(self, app: CloudApp) -> None:
        self.app = app

    def create_volumes(self, requests: Sequence[CreateRequest]) -> list[Receipt | BaseException]:
        """Creates of one project in one save (retried whole on a conflict);
        the caller makes sure no other create of the project runs meanwhile."""
        return list(retry_on_conflict(lambda: volumes.create_volumes(requests, self.app)))

    def create_volume(self, cmd: volumes.CreateVolume, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: volumes.create_volume(cmd, self.app, actor))

    def delete_volume(self, volume_id: str, actor: Actor) -> Receipt:
        return self._retry(volume_actions.delete_volume, volume_id, actor)

    def extend_volume(self, volume_id: str, new_size: int, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.extend_volume(volume_id, new_size, self.app, actor)
        )

    def update_volume(
        self, volume_id: str, name: str | None, description: str | None, actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.update_volume(volume_id, name, description, self.app, actor)
        )

    def change_volume_metadata(
        self, volume_id: str, change: Callable[[Metadata], Metadata], actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.change_metadata(volume_id, change, self.app, actor)
        )

    def set_bootable(self, volume_id: str, bootable: bool, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.set_bootable(volume_id, bootable, self.app, actor)
        )

    def set_readonly(self, volume_id: str, readonly: bool, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.set_readonly(volume_id, readonly, self.app, actor)
        )

    def reserve_volume(self, volume_id: str, reserve: bool, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.reserve_volume(volume_id, reserve, self.app, actor)
        )

    def reset_volume_status(self, volume_id: str, status: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_actions.reset_volume_status(volume_id, status, self.app, actor)
        )

    def upload_to_image(
        self, cmd: volume_upload.UploadToImage, actor: Actor
    ) -> volume_upload.Uploading:
        return retry_on_conflict(lambda: volume_upload.upload_to_image(cmd, self.app, actor))

    def create_snapshot(self, cmd: volume_snapshots.CreateSnapshot, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: volume_snapshots.create_snapshot(cmd, self.app, actor))

    def delete_snapshot(self, snapshot_id: str, actor: Actor) -> Receipt:
        return self._retry(volume_snapshots.delete_snapshot, snapshot_id, actor)

    def update_snapshot(
        self, snapshot_id: str, name: str | None, description: str | None, actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: volume_snapshots.update_snapshot(
                snapshot_id, name, description, self.app, actor
            )
        )

    def change_snapshot_metadata(
        self, snapshot_id: str, change: Callable[[Metadata], Metadata], actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: volume_snapshots.change_snapshot_metadata(snapshot_id, change, self.app, actor)
        )

    def reset_snapshot_status(self, snapshot_id: str, status: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_snapshots.reset_snapshot_status(snapshot_id, status, self.app, actor)
        )

    def create_volume_type(self, cmd: volume_types.CreateVolumeType, actor: Actor) -> Receipt:
        try:
            return volume_types.create_volume_type(cmd, self.app, actor)
        except IntegrityError:  # a racing create of the same name
            raise Conflict(f"Volume Type {cmd.name} already exists.") from None

    def attach_volume(
        self, server_id: str, volume_id: str, delete_on_termination: bool, actor: Actor
    ) -> volume_attachments.Attached:
        return retry_on_conflict(
            lambda: volume_attachments.attach_volume(
                server_id, volume_id, delete_on_termination, self.app, actor
            )
        )

    def detach_volume(self, server_id: str, volume_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: volume_attachments.detach_volume(server_id, volume_id, self.app, actor)
        )

    def _retry(
        self, handler: Callable[[str, CloudApp, Actor], Receipt], ident: str, actor: Actor
    ) -> Receipt:
        return retry_on_conflict(lambda: handler(ident, self.app, actor))
