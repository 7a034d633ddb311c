"""Copying a volume into an image (Cinder's os-volume_upload_image): the
image is created queued, owned by the volume's project, in the same save as
the volume's request; the volume host then sends the bytes."""

from __future__ import annotations

from dataclasses import dataclass

from commands.app import CloudApp
from commands.receipt import Receipt
from commands.volumes import visible_volume
from domain.errors import InvalidInput
from domain.image import Image
from domain.values import Actor

# What the volume host can write an image in (raw as it is, or qcow2).
UPLOAD_FORMATS = ("raw", "qcow2")
# volume_image_metadata keys that describe the old image, not properties.
_NOT_PROPERTIES = frozenset(
    {
        "image_id",
        "image_name",
        "checksum",
        "container_format",
        "disk_format",
        "min_disk",
        "min_ram",
        "size",
    }
)


@dataclass(frozen=True)
class UploadToImage:
    volume_id: str
    image_name: str
    disk_format: str = "raw"
    container_format: str = "bare"
    visibility: str = "private"
    force: bool = False


@dataclass(frozen=True)
class Uploading:
    receipt: Receipt
    image_id: str


def upload_to_image(cmd: UploadToImage, app: CloudApp, actor: Actor) -> Uploading:
    """Who may make the image public is policy (the API checks it first)."""
    volume = visible_volume(app, cmd.volume_id, actor)
    Image.validate(cmd.disk_format, cmd.container_format, cmd.visibility)
    if cmd.disk_format not in UPLOAD_FORMATS:
        raise InvalidInput(f"Invalid disk_format {cmd.disk_format!r}: one of raw, qcow2")
    properties = {k: v for k, v in volume.image_metadata.items() if k not in _NOT_PROPERTIES}
    # What lets the volume host (a service) send the bytes (commands/images.py).
    properties["image_type"] = "volume"
    Image.validate_fields(cmd.image_name, 0, 0, properties)
    image = Image(
        owner=volume.project_id,
        name=cmd.image_name,
        disk_format=cmd.disk_format,
        container_format=cmd.container_format,
        visibility=cmd.visibility,
        min_disk=0,
        min_ram=0,
        properties=properties,
        actor=actor,
    )
    volume.request_upload(str(image.id), cmd.force, actor)
    return Uploading(Receipt.of(volume.id, app.save(volume, image)), str(image.id))
