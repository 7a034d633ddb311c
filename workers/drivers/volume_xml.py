"""libvirt XML of a volume disk, and finding volume disks in a domain's XML.

A real guest's volume is an NBD disk on its attachment's unix socket (the
host's connector logged in to the target, workers/drivers/volume_connector.py);
the test driver, which connects nothing, records the iSCSI source itself.
Neither carries the CHAP secret. Each volume disk has a user alias
("ua-volume-<attachment id>"), which libvirt keeps in the definition, so a
disk is found by its attachment and never confused with another."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from workers.drivers.volume_connector import EXPORT_NAME, VolumeDisk

ALIAS_PREFIX = "ua-volume-"


@dataclass(frozen=True)
class AttachedVolume:
    """A volume disk found in a domain: its attachment and the guest's device."""

    attachment_id: str
    target: str


def _parse(domain_xml: str) -> ET.Element:
    return ET.fromstring(domain_xml)  # noqa: S314 - libvirt's own XML, not a tenant's


def volume_alias(attachment_id: str) -> str:
    return f"{ALIAS_PREFIX}{uuid.UUID(attachment_id)}"


def volume_disk_element(disk: VolumeDisk, nbd_socket: str | None) -> ET.Element:
    """The <disk> of `disk`: on `nbd_socket` for a real guest, else the
    iSCSI source as a record (libvirt's test driver)."""
    element = ET.Element("disk", type="network", device="disk")
    # No host page cache: the volume's bytes live on the storage host.
    ET.SubElement(element, "driver", name="qemu", type="raw", cache="none")
    if nbd_socket is not None:
        source = ET.SubElement(element, "source", protocol="nbd", name=EXPORT_NAME)
        ET.SubElement(source, "host", transport="unix", socket=nbd_socket)
    else:
        address = disk.address
        source = ET.SubElement(
            element, "source", protocol="iscsi", name=f"{address.iqn}/{address.lun}"
        )
        ET.SubElement(source, "host", name=address.portal.host, port=str(address.portal.port))
        ET.SubElement(ET.SubElement(source, "initiator"), "iqn", name=disk.initiator_iqn)
    ET.SubElement(element, "target", dev=disk.target, bus="virtio")
    # The guest finds its volume by this serial (/sys/block/vdX/serial), as on Nova.
    ET.SubElement(element, "serial").text = disk.volume_id[:20]
    ET.SubElement(element, "alias", name=volume_alias(disk.attachment_id))
    return element


def volume_disk_xml(disk: VolumeDisk, nbd_socket: str | None) -> str:
    return ET.tostring(volume_disk_element(disk, nbd_socket), encoding="unicode")


def attached_volumes(domain_xml: str) -> list[AttachedVolume]:
    """The volume disks of a domain's XML, sorted by target."""
    found = []
    for disk in _parse(domain_xml).iterfind("./devices/disk"):
        alias, target = disk.find("alias"), disk.find("target")
        name = "" if alias is None else alias.get("name", "")
        if name.startswith(ALIAS_PREFIX) and target is not None:
            found.append(AttachedVolume(name.removeprefix(ALIAS_PREFIX), target.get("dev", "")))
    return sorted(found, key=lambda a: (len(a.target), a.target))


def disk_targets(domain_xml: str) -> dict[str, str]:
    """Every disk's target device -> its alias ("" if none)."""
    targets = {}
    for disk in _parse(domain_xml).iterfind("./devices/disk"):
        target, alias = disk.find("target"), disk.find("alias")
        if target is not None:
            targets[target.get("dev", "")] = "" if alias is None else alias.get("name", "")
    return targets


def with_volume(domain_xml: str, disk: VolumeDisk, nbd_socket: str | None) -> str:
    """`domain_xml` with `disk` added to its devices."""
    root = _parse(domain_xml)
    devices = root.find("devices")
    if devices is None:
        devices = ET.SubElement(root, "devices")
    devices.append(volume_disk_element(disk, nbd_socket))
    return ET.tostring(root, encoding="unicode")


def without_volume(domain_xml: str, attachment_id: str) -> str:
    """`domain_xml` with the attachment's disk removed."""
    root = _parse(domain_xml)
    alias = volume_alias(attachment_id)
    for devices in root.iterfind("devices"):
        for disk in devices.findall("disk"):
            found = disk.find("alias")
            if found is not None and found.get("name") == alias:
                devices.remove(disk)
    return ET.tostring(root, encoding="unicode")
