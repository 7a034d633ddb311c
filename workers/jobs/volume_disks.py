"""A server's volumes as the disks of its domain: each attachment's disk
(where its target is, its CHAP account derived from the host's key), the
ones a domain is defined with, and whether a boot's volumes are ready."""

from __future__ import annotations

from uuid import UUID

from commands.app import CloudApp
from commands.loading import load
from domain.errors import NotFound
from domain.instance import Instance
from domain.volume import Volume
from domain.volume_values import ROOT_DEVICE
from workers.drivers.chap import chap_for
from workers.drivers.errors import PermanentDriverError
from workers.drivers.iscsi import Portal, TargetAddress, target_iqn
from workers.drivers.volume_connector import VolumeDisk


def parse_portal(text: str) -> Portal:
    address, _, port = text.rpartition(":")
    if not address or not port.isdigit():
        raise PermanentDriverError(f"volume portal {text!r} is not address:port")
    return Portal(address, int(port))


def volume_disk(
    app: CloudApp, chap_key: bytes, volume_id: str, attachment_id: str, device: str
) -> VolumeDisk:
    """One attachment as the guest's disk ``device`` (/dev/vdc -> vdc)."""
    volume = load(app, Volume, UUID(volume_id), f"Volume {volume_id}")
    if not volume.portal:
        raise PermanentDriverError(f"volume {volume_id} is not exported yet")
    chap = chap_for(chap_key, volume_id)
    address = TargetAddress(parse_portal(volume.portal), target_iqn(volume_id))
    target = device.removeprefix("/dev/")
    return VolumeDisk(attachment_id, volume_id, target, address, chap.user, chap.secret)


def disks_of(app: CloudApp, chap_key: bytes, instance: Instance) -> tuple[VolumeDisk, ...]:
    """The volumes a server's domain has, or gets when it is defined: its
    root volume (once the volume host let it in) and every attached one."""
    disks = []
    for volume_id, mapping in sorted(instance.volumes.items(), key=lambda v: v[1]["device"]):
        root = mapping["device"] == ROOT_DEVICE
        if mapping["status"] not in ("attached", "detaching") and not root:
            continue
        try:
            volume = load(app, Volume, UUID(volume_id), f"Volume {volume_id}")
        except NotFound:
            continue
        found = volume.attachments.get(mapping["attachment_id"])
        if found is None or not found["access"]:
            continue
        disks.append(
            volume_disk(app, chap_key, volume_id, mapping["attachment_id"], mapping["device"])
        )
    return tuple(disks)


def boot_volumes_ready(app: CloudApp, instance: Instance) -> bool:
    """Whether every volume the boot asked for has been let in (a spawn waits till then)."""
    for volume_id, mapping in instance.volumes.items():
        try:
            volume = load(app, Volume, UUID(volume_id), f"Volume {volume_id}")
        except NotFound:
            return False
        found = volume.attachments.get(mapping["attachment_id"])
        if found is None or not found["access"]:
            return False
    return True
