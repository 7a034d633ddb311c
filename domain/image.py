"""The Image aggregate: metadata and upload state of a Glance-style image."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition, TooLarge
from domain.values import Actor, require_int32, require_text

DISK_FORMATS = (
    "raw",
    "qcow2",
    "vmdk",
    "vdi",
    "iso",
    "vhd",
    "vhdx",
    "ami",
    "ari",
    "aki",
)
CONTAINER_FORMATS = ("bare", "ovf", "ova", "ami", "ari", "aki", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
# Glance's defaults: image_property_quota, and its column sizes for properties.
MAX_PROPERTIES = 128
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 65535


class Image(Aggregate):
    """An image: created 'queued', 'saving' while its bytes stream in, 'active' once stored."""

    class Created(Aggregate.Created):
        owner: str
        name: str
        disk_format: str
        container_format: str
        visibility: str
        min_disk: int
        min_ram: int
        properties: dict[str, Any]
        actor: Actor

    @event(Created)
    def __init__(
        self,
        owner: str,
        name: str,
        disk_format: str,
        container_format: str,
        visibility: str,
        min_disk: int,
        min_ram: int,
        properties: dict[str, Any],
        actor: Actor,
    ) -> None:
        self.owner, self.name = owner, name
        self.disk_format, self.container_format = disk_format, container_format
        self.visibility = visibility
        self.min_disk, self.min_ram = min_disk, min_ram
        self.properties = dict(properties)
        self.status = "queued"
        self.checksum: str | None = None
        self.hash_algo: str | None = None
        self.hash_value: str | None = None
        self.size: int | None = None
        self.upload_id: str | None = None  # the upload streaming in while 'saving'

    @staticmethod
    def validate_fields(name: str, min_disk: int, min_ram: int, properties: dict[str, Any]) -> None:
        require_text(name, "Image name", allow_empty=True)
        require_int32(min_disk, "min_disk")
        require_int32(min_ram, "min_ram")
        if len(properties) > MAX_PROPERTIES:
            raise TooLarge(
                f"Attempted: {len(properties)}, Maximum: {MAX_PROPERTIES} image properties"
            )
        for key, value in properties.items():
            require_text(key, "Image property name", max_length=MAX_PROPERTY_KEY)
            if not isinstance(value, str):
                raise InvalidInput(f"Image property {key} must be a string")
            require_text(
                value, f"Image property {key}", max_length=MAX_PROPERTY_VALUE, allow_empty=True
            )

    @staticmethod
    def validate(disk_format: str, container_format: str, visibility: str) -> None:
        if disk_format not in DISK_FORMATS:
            raise InvalidInput(f"Invalid disk_format '{disk_format}'")
        if container_format not in CONTAINER_FORMATS:
            raise InvalidInput(f"Invalid container_format '{container_format}'")
        if visibility not in VISIBILITIES:
            raise InvalidInput(f"Invalid visibility value: {visibility}")

    def visible_to(self, project_id: str, is_admin: bool) -> bool:
        if self.status == "deleted":
            return False
        return is_admin or self.owner == project_id or self.visibility in ("public", "community")

    def start_upload(self, upload_id: str, actor: Actor) -> None:
        """'saving' while the bytes stream in. An image already saving takes a
        new upload too: the earlier one may have died with its API process, and
        only the upload named last may finish (Glance would leave it stuck)."""
        if self.status not in ("queued", "saving"):
            raise InvalidTransition("image", self.status, "upload")
        self._upload_started(upload_id, actor)

    class UploadStarted(Aggregate.Event):
        upload_id: str
        actor: Actor

    @event(UploadStarted)
    def _upload_started(self, upload_id: str, actor: Actor) -> None:
        self.status, self.upload_id = "saving", upload_id

    def _saving(self) -> str | None:
        # getattr: images stored before uploads streamed never set upload_id.
        return getattr(self, "upload_id", None) if self.status == "saving" else None

    def abort_upload(self, upload_id: str, reason: str, actor: Actor) -> bool:
        """Back to 'queued' if this upload is still the one saving; whether it was."""
        if self.status != "saving" or self._saving() != upload_id:
            return False
        self._upload_aborted(upload_id, reason, actor)
        return True

    class UploadAborted(Aggregate.Event):
        upload_id: str
        reason: str
        actor: Actor

    @event(UploadAborted)
    def _upload_aborted(self, upload_id: str, reason: str, actor: Actor) -> None:
        self.status, self.upload_id = "queued", None

    def record_upload(
        self,
        checksum: str,
        hash_algo: str,
        hash_value: str,
        size: int,
        actor: Actor,
        upload_id: str | None = None,
    ) -> None:
        """The bytes are stored. ``upload_id`` names the upload that stored them:
        only the one saving now may finish (None: a one-step upload from queued)."""
        if self.status not in ("queued", "saving") or self._saving() != upload_id:
            raise InvalidTransition("image", self.status, "upload")
        self._uploaded(checksum, hash_algo, hash_value, size, actor)

    class Uploaded(Aggregate.Event):
        checksum: str
        hash_algo: str
        hash_value: str
        size: int
        actor: Actor

    @event(Uploaded)
    def _uploaded(
        self, checksum: str, hash_algo: str, hash_value: str, size: int, actor: Actor
    ) -> None:
        self.checksum, self.hash_algo, self.hash_value = checksum, hash_algo, hash_value
        self.size = size
        self.status, self.upload_id = "active", None

    def delete(self, actor: Actor) -> None:
        if self.status != "deleted":
            self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.status = "deleted"
