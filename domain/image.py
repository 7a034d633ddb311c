"""The Image aggregate: metadata and upload state of a Glance-style image."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    TooLarge,
)
from domain.image_members import can_see, require_member_status
from domain.image_safety import ImageSafety
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
MAX_TAGS = 128  # Glance's image_tag_quota
MAX_MEMBERS = 128  # Glance's image_member_quota
# Core fields a patch may change (Image.update); disk and container formats
# only while no data is uploaded.
MUTABLE_CORE = (
    "name",
    "visibility",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "protected",
    "os_hidden",
    "tags",
    "owner",
)


class Image(ImageSafety):
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
        self.tags: list[str] = []
        self.protected = False
        self.os_hidden = False
        self.members: dict[str, str] = {}  # project id -> pending/accepted/rejected

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
        return can_see(self.owner, self.visibility, self.members, project_id, is_admin)

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
        streaming = self.status in ("saving", "uploading")  # an upload, or a staging
        return getattr(self, "upload_id", None) if streaming else None

    def abort_upload(self, upload_id: str, reason: str, actor: Actor) -> bool:
        """Back to 'queued' if this upload is still the one saving; whether it was."""
        if self.status not in ("saving", "uploading") or self._saving() != upload_id:
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
        only the one saving now may finish (None: a one-step upload from
        queued, or an import of the staged bytes)."""
        if self.status not in ("queued", "saving", "importing") or self._saving() != upload_id:
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
        if self.protected and self.status != "deleted":
            raise Forbidden(f"Image {self.id} is protected and cannot be deleted.")
        if self.status != "deleted":
            self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.status = "deleted"

    # -- metadata (JSON-patch, tags) -------------------------------------

    def update(
        self,
        core: dict[str, Any],
        properties: dict[str, str],
        removed: list[str],
        actor: Actor,
    ) -> bool:
        """Change core fields and additional properties; False (and no event)
        if nothing changes. Who may make an image public or change its owner
        is policy, checked before this is called."""
        unknown = set(core) - set(MUTABLE_CORE)
        if unknown:
            raise Forbidden(f"Attribute '{sorted(unknown)[0]}' is read-only.")
        core = {k: v for k, v in core.items() if getattr(self, k) != v}
        properties = {k: v for k, v in properties.items() if self.properties.get(k) != v}
        removed = sorted({k for k in removed if k in self.properties} - set(properties))
        self._check_core(core)
        after = {k: v for k, v in self.properties.items() if k not in removed} | properties
        self.validate_fields(core.get("name", self.name), 0, 0, after)
        if not (core or properties or removed):
            return False
        self._updated(core, properties, removed, actor)
        return True

    def _check_core(self, core: dict[str, Any]) -> None:
        for key in ("disk_format", "container_format"):
            if key in core and self.status != "queued":
                raise Forbidden(f"Attribute {key} can be only replaced for a queued image.")
        for key in ("name", "owner"):
            if key in core and not isinstance(core[key], str):
                raise InvalidInput(f"Invalid value for {key}")
        if "owner" in core:
            require_text(core["owner"], "owner")
        for key in ("min_disk", "min_ram"):
            value = core.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"Invalid value for {key}: must be an integer")
            require_int32(value, key)
        for key in ("protected", "os_hidden"):
            if key in core and not isinstance(core[key], bool):
                raise InvalidInput(f"Invalid value for {key}: must be a boolean")
        if "tags" in core:
            core["tags"] = self.checked_tags(core["tags"])
            if core["tags"] == self.tags:
                del core["tags"]
        self.validate(
            core.get("disk_format", self.disk_format),
            core.get("container_format", self.container_format),
            core.get("visibility", self.visibility),
        )

    @staticmethod
    def checked_tags(tags: object) -> list[str]:
        """Tags are unique strings of 1 to 255 printable characters, at most 128."""
        if not isinstance(tags, list):
            raise InvalidInput("Invalid value for tags: must be a list of strings")
        if not all(isinstance(tag, str) for tag in tags):
            raise InvalidInput("Invalid value for tags: must be a list of strings")
        unique = list(dict.fromkeys(tags))  # first occurrence kept, in order
        for tag in unique:
            require_text(tag, "Image tag")
        if len(unique) > MAX_TAGS:
            raise TooLarge(f"Attempted: {len(unique)}, Maximum: {MAX_TAGS} image tags")
        return unique

    class Updated(Aggregate.Event):
        core: dict[str, Any]
        properties: dict[str, str]
        removed: list[str]
        actor: Actor

    @event(Updated)
    def _updated(
        self, core: dict[str, Any], properties: dict[str, str], removed: list[str], actor: Actor
    ) -> None:
        for key, value in core.items():
            setattr(self, key, list(value) if key == "tags" else value)
        for key in removed:
            self.properties.pop(key, None)
        self.properties.update(properties)

    # -- deactivation ------------------------------------------------------

    def deactivate(self, actor: Actor) -> None:
        """Glance: only an active image is deactivated; again is a no-op."""
        if self.status == "deactivated":
            return
        if self.status != "active":
            raise Forbidden(f"Not allowed to deactivate image in status '{self.status}'")
        self._deactivated(actor)

    class Deactivated(Aggregate.Event):
        actor: Actor

    @event(Deactivated)
    def _deactivated(self, actor: Actor) -> None:
        self.status = "deactivated"

    def reactivate(self, actor: Actor) -> None:
        if self.status == "active":
            return
        if self.status != "deactivated":
            raise Forbidden(f"Not allowed to reactivate image in status '{self.status}'")
        self.require_safe_to_reactivate()
        self._reactivated(actor)

    class Reactivated(Aggregate.Event):
        actor: Actor

    @event(Reactivated)
    def _reactivated(self, actor: Actor) -> None:
        self.status = "active"

    # -- members -----------------------------------------------------------

    def add_member(self, member_id: str, actor: Actor) -> None:
        if self.visibility != "shared":
            raise Forbidden("Only shared images have members.")
        if member_id in self.members:
            raise Conflict(f"Member {member_id} already exists for image {self.id}")
        if len(self.members) >= MAX_MEMBERS:
            raise TooLarge(f"Attempted: {len(self.members) + 1}, Maximum: {MAX_MEMBERS} members")
        require_text(member_id, "Member id")
        self._member_added(member_id, actor)

    class MemberAdded(Aggregate.Event):
        member_id: str
        actor: Actor

    @event(MemberAdded)
    def _member_added(self, member_id: str, actor: Actor) -> None:
        self.members[member_id] = "pending"

    def set_member_status(self, member_id: str, status: str, actor: Actor) -> bool:
        """Only the member itself answers (the API checks who asks)."""
        require_member_status(status)
        if member_id not in self.members:
            raise NotFoundMember(member_id, str(self.id))
        if self.members[member_id] == status:
            return False
        self._member_status_changed(member_id, status, actor)
        return True

    class MemberStatusChanged(Aggregate.Event):
        member_id: str
        status: str
        actor: Actor

    @event(MemberStatusChanged)
    def _member_status_changed(self, member_id: str, status: str, actor: Actor) -> None:
        self.members[member_id] = status

    def remove_member(self, member_id: str, actor: Actor) -> None:
        if member_id not in self.members:
            raise NotFoundMember(member_id, str(self.id))
        self._member_removed(member_id, actor)

    class MemberRemoved(Aggregate.Event):
        member_id: str
        actor: Actor

    @event(MemberRemoved)
    def _member_removed(self, member_id: str, actor: Actor) -> None:
        del self.members[member_id]


class NotFoundMember(NotFound):
    """The image has no such member."""

    def __init__(self, member_id: str, image_id: str) -> None:
        super().__init__(f"Member {member_id} not found for image {image_id}")
