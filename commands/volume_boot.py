"""The volumes a boot asks for (block_device_mapping_v2), and what a
server's deletion does to its volumes. The Instance and each Volume change
in one save, so neither can disagree with the other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from commands.images import require_fits_root_disk
from commands.loading import BatchAggregates, parse_uuid
from commands.volumes import CreateVolume, requested_volume
from domain.errors import InvalidInput, NotFound
from domain.flavor import Flavor
from domain.image import Image
from domain.instance import Instance
from domain.quota import Quota
from domain.values import Actor
from domain.volume import Volume

SOURCES = ("volume", "image", "snapshot", "blank")


@dataclass(frozen=True)
class BlockDevice:
    """One entry of a boot's block_device_mapping_v2 that becomes a volume."""

    source_type: str  # volume, image, snapshot or blank
    uuid: str = ""  # the volume, image or snapshot
    boot_index: int | None = None  # 0: the root disk
    volume_size: int | None = None  # GiB, for a volume made at boot
    delete_on_termination: bool = False

    @property
    def root(self) -> bool:
        return self.boot_index == 0


def root_image(
    image_id: str,
    devices: Sequence[BlockDevice],
    count: int,
    flavor: Flavor,
    bootable: Callable[[str], Image],
) -> str:
    """The image a boot's root disk is made of ("" when a volume is its root
    disk and no image is named), checked against the flavor: its disk only
    when the flavor's disk is the root (a size bomb is refused here, not on
    a host), its memory always."""
    if devices and count > 1:
        raise InvalidInput("Volumes in block_device_mapping_v2 are for one server at a time")
    on_volume = any(device.root for device in devices)
    if on_volume and not image_id:
        return ""
    image = bootable(image_id)
    if not on_volume:
        require_fits_root_disk(image, flavor.disk_gb)
        if flavor.disk_gb and image.min_disk > flavor.disk_gb:
            raise InvalidInput("Flavor's disk is too small for requested image.")
    if image.min_ram > flavor.ram_mb:
        raise InvalidInput("Flavor's memory is too small for requested image.")
    return str(image.id)


def same_project(instance: Instance, volume: Volume) -> None:
    """A volume goes only to a server of its own project (admins included:
    the volume's quota and the server's would otherwise be two tenants')."""
    if volume.project_id != instance.project_id:
        raise InvalidInput(f"Volume {volume.id} belongs to another project than the server")


def map_boot_volumes(
    instance: Instance,
    devices: Sequence[BlockDevice],
    batch: BatchAggregates,
    quota: Quota,
    actor: Actor,
) -> None:
    """The volumes a new server asks for, each attached to it at boot: an
    existing volume (checked as any id a tenant sends), or one made now from
    an image, a snapshot or nothing (its quota reserved on ``quota``). Every
    volume touched is in ``batch`` for the caller to save with the instance."""
    for device in devices:
        if device.source_type not in SOURCES:
            raise InvalidInput(f"Block Device Mapping is Invalid: source {device.source_type!r}")
        if device.source_type == "volume":
            volume = _existing(batch, device.uuid, actor)
            same_project(instance, volume)
        else:
            try:
                volume = requested_volume(_volume_for(device), batch.app, actor, quota)
            except NotFound as exc:  # a snapshot id: Nova's 400 for any bad mapping
                raise InvalidInput(f"Block Device Mapping is Invalid: {exc.message}") from None
            batch.loaded[volume.id] = volume
        attachment_id = str(uuid4())
        mapped = instance.request_boot_volume(
            str(volume.id), attachment_id, device.root, device.delete_on_termination, actor
        )
        volume.reserve_attachment(attachment_id, str(instance.id), "", mapped, actor, at_boot=True)


def _existing(batch: BatchAggregates, volume_id: str, actor: Actor) -> Volume:
    invalid = InvalidInput(f"Block Device Mapping is Invalid: failed to get volume {volume_id}.")
    try:
        volume = batch.get(Volume, parse_uuid(volume_id, "Volume"))
    except NotFound:
        raise invalid from None
    if not volume.visible_to(actor):
        raise invalid
    return volume


def _volume_for(device: BlockDevice) -> CreateVolume:
    if device.source_type != "snapshot" and not device.volume_size:
        raise InvalidInput(
            f"Block Device Mapping is Invalid: volume_size is needed for a {device.source_type}."
        )
    return CreateVolume(
        size=device.volume_size,
        image_id=device.uuid if device.source_type == "image" else "",
        snapshot_id=device.uuid if device.source_type == "snapshot" else "",
    )


def detach_for_deletion(
    instance: Instance, batch: BatchAggregates, actor: Actor, host_had_them: bool
) -> None:
    """A server being deleted lets go of every volume it has, whatever their
    progress; each volume goes too if it was to be deleted with the server.
    ``host_had_them`` False: no compute host ever plugged them in, so they
    are unplugged already (the volume host still takes the ACL off)."""
    for volume_id, mapped in instance.volumes.items():
        try:
            volume = batch.get(Volume, UUID(volume_id))
        except NotFound:
            continue
        attachment_id = mapped["attachment_id"]
        if attachment_id not in volume.attachments:
            continue
        volume.request_detach(
            attachment_id, actor, any_state=True, delete_after=mapped["delete_on_termination"]
        )
        if not host_had_them:
            volume.mark_unplugged(attachment_id, actor)


def unplugged_with_deletion(instance: Instance, batch: BatchAggregates, actor: Actor) -> None:
    """The compute host removed the deleted server's guest, and with it every
    volume's disk and login: each is unplugged (the volume host takes the
    attachment's initiator off the ACL next), in the deletion's save."""
    for volume_id, mapped in instance.volumes.items():
        try:
            volume = batch.get(Volume, UUID(volume_id))
        except NotFound:
            continue
        found = volume.attachments.get(mapped["attachment_id"])
        if found is not None and found["status"] == "detaching" and not found.get("unplugged"):
            volume.mark_unplugged(mapped["attachment_id"], actor)


def attached_with_spawn(
    instance: Instance, batch: BatchAggregates, now: datetime, actor: Actor
) -> None:
    """The guest was defined and started with its boot volumes: each is
    attached, on both sides, in the spawn's save."""
    for volume_id, mapped in instance.volumes.items():
        if mapped["status"] != "attaching":
            continue
        try:
            volume = batch.get(Volume, UUID(volume_id))
        except NotFound:
            continue
        found = volume.attachments.get(mapped["attachment_id"])
        if found is not None and found["status"] == "attaching" and found["access"]:
            volume.place_attachment(mapped["attachment_id"], instance.host or "", actor)
            volume.mark_attached(mapped["attachment_id"], now, actor)
            instance.mark_volume_attached(volume_id, actor)
