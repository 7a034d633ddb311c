"""A volume copied into an image (Cinder's os-volume_upload_image): the
part of the Volume aggregate that says so. Its events live on
``Uploading``, a base class of Volume, so the ledger stores them as
``domain.volume_upload:Uploading.<Event>``. The image itself is a queued
Image the command saves with the request; the volume host sends the bytes."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor
from domain.volume_values import VolumeStatus


class Uploading(Aggregate):
    """Uploading: the status while its bytes go to an image."""

    status: VolumeStatus  # kept by Volume
    upload_image_id: str

    def _settle(self) -> None:
        """Kept by Attaching: the status from the attachments."""
        raise NotImplementedError

    def _refuse(self, action: str) -> InvalidTransition:
        return InvalidTransition(f"volume {self.id}", f"status {self.status}", action)

    # To an image (Cinder's os-volume_upload_image) ------------------------------

    def request_upload(self, image_id: str, force: bool, actor: Actor) -> None:
        """Copy its bytes into a (queued) image the caller saves with it: an
        available volume, or an attached one with ``force``."""
        attached = self.status == VolumeStatus.IN_USE
        if not (self.status == VolumeStatus.AVAILABLE or (attached and force)):
            raise InvalidInput(
                f"Invalid volume: Volume status must be available{' (or use force)' * attached}"
                f" to upload it to an image, currently {self.status}."
            )
        self._upload_requested(image_id, actor)

    class UploadRequested(Aggregate.Event):
        image_id: str
        actor: Actor

    @event(UploadRequested)
    def _upload_requested(self, image_id: str, actor: Actor) -> None:
        self.upload_image_id = image_id
        self.__dict__["last_request"] = actor
        self.status = VolumeStatus.UPLOADING

    def mark_uploaded(self, actor: Actor) -> None:
        if self.status != VolumeStatus.UPLOADING:
            raise self._refuse("finish uploading")
        self._uploaded(self.upload_image_id, actor)

    class Uploaded(Aggregate.Event):
        image_id: str
        actor: Actor

    @event(Uploaded)
    def _uploaded(self, image_id: str, actor: Actor) -> None:
        self.status = VolumeStatus.AVAILABLE
        self._settle()

    def fail_upload(self, message: str, actor: Actor) -> None:
        if self.status != VolumeStatus.UPLOADING:
            raise self._refuse("fail uploading")
        self._upload_failed(self.upload_image_id, message, actor)

    class UploadFailed(Aggregate.Event):
        image_id: str
        message: str
        actor: Actor

    @event(UploadFailed)
    def _upload_failed(self, image_id: str, message: str, actor: Actor) -> None:
        self.status = VolumeStatus.AVAILABLE
        self.__dict__["fault"] = message
        self._settle()
