"""libvirt domain XML for a DomainSpec: the test driver's plain domains and
real QEMU guests (direct kernel boot, a serial console written to a file)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from workers.drivers.specs import DiskSpec, DomainSpec
from workers.drivers.volume_xml import volume_disk_element

# Hypervisors that run a real guest (the test driver only keeps records).
REAL_DOMAIN_TYPES = frozenset({"qemu", "kvm"})


def domain_xml(
    spec: DomainSpec, domain_type: str, volume_sockets: Mapping[str, str] | None = None
) -> str:
    """Render `spec` as libvirt domain XML for a `domain_type` hypervisor;
    a real one's volumes on their connector's NBD sockets (attachment id ->
    socket path), the test driver's as their iSCSI sources."""
    real = domain_type in REAL_DOMAIN_TYPES
    root = ET.Element("domain", type=domain_type)
    ET.SubElement(root, "name").text = spec.name
    ET.SubElement(root, "uuid").text = spec.uuid
    ET.SubElement(root, "memory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(root, "vcpu").text = str(spec.vcpus)
    os_ = ET.SubElement(root, "os")
    if real:
        # UEFI guests get q35, the machine OVMF is built and tested for.
        machine = "q35" if spec.uefi else "pc"
        ET.SubElement(os_, "type", arch="x86_64", machine=machine).text = "hvm"
    else:
        ET.SubElement(os_, "type").text = "hvm"
    if real and spec.uefi:
        loader = ET.SubElement(os_, "loader", readonly="yes", type="pflash")
        loader.text = spec.uefi.code
        ET.SubElement(os_, "nvram", template=spec.uefi.vars_template).text = spec.uefi.nvram
    if spec.kernel:
        ET.SubElement(os_, "kernel").text = spec.kernel
        if spec.initrd:
            ET.SubElement(os_, "initrd").text = spec.initrd
        ET.SubElement(os_, "cmdline").text = spec.cmdline
    elif real:
        ET.SubElement(os_, "boot", dev="hd")  # a whole-disk image's bootloader
    if real:
        # ACPI lets the guest hear a reboot or a power button (and hot-plug).
        ET.SubElement(ET.SubElement(root, "features"), "acpi")
        # A guest that powers itself off or panics stays off: the ledger,
        # not the hypervisor, decides whether it runs again.
        ET.SubElement(root, "on_reboot").text = "restart"
        ET.SubElement(root, "on_crash").text = "destroy"
    devices = ET.SubElement(root, "devices")
    for disk in spec.disks:
        element = ET.SubElement(devices, "disk", type="file", device="disk")
        # "qemu" is the only backend name the qemu/kvm drivers accept.
        ET.SubElement(element, "driver", name="qemu", type=disk.format)
        ET.SubElement(element, "source", file=disk.path)
        _backing_chain(element, disk)
        ET.SubElement(element, "target", dev=disk.target, bus="virtio")
    for volume in spec.volumes:
        socket = None if volume_sockets is None else volume_sockets[volume.attachment_id]
        devices.append(volume_disk_element(volume, socket))
    _add_interfaces(devices, spec)
    if real and spec.console_path:
        serial = ET.SubElement(devices, "serial", type="file")
        ET.SubElement(serial, "source", path=spec.console_path, append="on")
        ET.SubElement(serial, "target", port="0")
    return ET.tostring(root, encoding="unicode")


def _add_interfaces(devices: ET.Element, spec: DomainSpec) -> None:
    """Each interface as an existing tap (``managed='no'``: libvirt neither
    creates nor deletes it; the network driver owns it) with the guest's MAC."""
    for nic in spec.interfaces:
        element = ET.SubElement(devices, "interface", type="ethernet")
        ET.SubElement(element, "mac", address=nic.mac)
        ET.SubElement(element, "target", dev=nic.tap, managed="no")
        ET.SubElement(element, "model", type=nic.model)


def _backing_chain(disk: ET.Element, spec: DiskSpec) -> None:
    """The disk's whole chain, each layer's format named, ending in an empty
    <backingStore/>. Left out, libvirt reads the chain from the images'
    headers, and a base image whose header names a host file (a crafted
    qcow2's backing file) has QEMU open that file as the guest's disk."""
    if spec.backing is None:
        ET.SubElement(disk, "backingStore")
        return
    layer = ET.SubElement(disk, "backingStore", type="file")
    ET.SubElement(layer, "format", type=spec.backing.format)
    ET.SubElement(layer, "source", file=spec.backing.path)
    ET.SubElement(layer, "backingStore")
