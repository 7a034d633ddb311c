"""A boot's block_device_mapping_v2 as the command takes it: the volumes it
maps (commands/volume_boot.py), and the image to boot when one of its
entries names it. What is local (the root disk from an image, swap,
ephemeral disks) is the flavor's, as before: those entries are not volumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from api.errors import BadRequest
from api.server_views import links
from commands.volume_boot import BlockDevice


class BlockDeviceSpec(BaseModel):
    """One entry of Nova's block_device_mapping_v2, as a boot request gives it."""

    model_config = ConfigDict(extra="ignore")
    source_type: str = Field(default="blank", max_length=20)
    destination_type: str | None = Field(default=None, max_length=20)
    uuid: str | None = Field(default=None, max_length=255)
    boot_index: int | str | None = None
    volume_size: int | None = Field(default=None, ge=1, le=2**31 - 1)
    delete_on_termination: bool | None = None


class MappingEntry(Protocol):
    source_type: str
    destination_type: str | None
    uuid: str | None
    boot_index: int | str | None
    volume_size: int | None
    delete_on_termination: bool | None


def boot_index(entry: MappingEntry) -> int | None:
    value = entry.boot_index
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Block Device Mapping is Invalid: boot_index {value!r}") from None


def boot_devices(
    image_ref: str, entries: Sequence[MappingEntry] | None
) -> tuple[str, tuple[BlockDevice, ...]]:
    """(the image to boot, or "" for a volume's root; the volumes mapped)."""
    volumes: list[BlockDevice] = []
    for entry in entries or ():
        index = boot_index(entry)
        destination = entry.destination_type or (
            "local" if entry.source_type == "blank" else "volume"
        )
        if destination not in ("local", "volume"):
            raise BadRequest(f"Block Device Mapping is Invalid: destination {destination[:20]!r}")
        if destination == "local":
            if entry.source_type == "image" and index == 0:
                if image_ref and entry.uuid and entry.uuid != image_ref:
                    raise BadRequest("Block Device Mapping is Invalid: two root images given")
                image_ref = image_ref or entry.uuid or ""
            continue
        volumes.append(
            BlockDevice(
                source_type=entry.source_type,
                uuid=entry.uuid or "",
                boot_index=index,
                volume_size=entry.volume_size,
                delete_on_termination=bool(entry.delete_on_termination),
            )
        )
    if sum(1 for v in volumes if v.root) > 1:
        raise BadRequest("Block Device Mapping is Invalid: more than one boot_index 0")
    if not image_ref and not any(v.root for v in volumes):
        raise BadRequest("Missing imageRef attribute: an image or a root volume is needed")
    if image_ref and any(v.root for v in volumes):
        image_ref = ""  # the volume is the root disk; the image was its source
    return image_ref, tuple(volumes)


def shown_image(request: Request, image_id: str) -> dict[str, Any] | str:
    """A server's image as Nova shows it: "" for a server booted from a volume."""
    return {"id": image_id, "links": links(request, "images", image_id)} if image_id else ""
