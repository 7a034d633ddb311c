"""What a compute host defines for an instance: its image in the host's
cache, its disks, its ports plugged there, and the domain of its flavor; for an image that names a
kernel and a ramdisk (an AMI with its AKI and ARI), those too, for a direct
kernel boot, as Nova's libvirt driver does."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from commands.loading import load
from domain.image import Image
from domain.instance import Instance
from domain.values import FlavorSnapshot
from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.errors import PermanentDriverError
from workers.drivers.hypervisor import OVMF_CODE, OVMF_VARS, DiskSpec, DomainSpec, UefiBoot
from workers.drivers.image_cache import ImageDigest
from workers.drivers.volume_connector import VolumeDisk
from workers.jobs.network_interfaces import interfaces_of
from workers.jobs.volume_disks import disks_of
from workers.runtime import ComputeContext, ImageFacts

# Nova's default kernel command line when the image gives none (os_command_line).
DEFAULT_CMDLINE = "root=/dev/vda console=tty0 console=ttyS0"
FIRMWARE_TYPES = ("bios", "uefi")  # Glance's hw_firmware_type values
NVRAM_FILE = "uefi-vars.fd"  # beside the root disk, so it goes with the disks


def domain_name(instance_id: UUID) -> str:
    return f"instance-{instance_id}"


def spec_for(
    instance: Instance,
    host: ComputeContext,
    flavor: FlavorSnapshot | None = None,
    interfaces: tuple[InterfaceSpec, ...] | None = None,
) -> DomainSpec:
    """Image into the host cache, disks created, and the domain description
    (of the instance's flavor, or of ``flavor``: a revert's old one), with
    ``interfaces`` (a spawn's, its ports just plugged) or else those of its
    ports the ledger has plugged here. A server booted from a volume has
    neither image nor disks of its own."""
    if interfaces is None:
        interfaces = interfaces_of(host, instance)
    if not instance.image_id:
        return _on_volume(instance, host, flavor or instance.flavor, interfaces)
    facts = image_facts(host, instance.image_id)
    base = _cached(host, instance.image_id, facts)
    flavor = flavor or instance.flavor
    disks = host.disks.ensure_instance_disks(
        str(instance.id), base, facts.disk_format, flavor.disk_gb, flavor.ephemeral_gb
    )
    return describe(instance, host, flavor, disks, interfaces)


def describe(
    instance: Instance,
    host: ComputeContext,
    flavor: FlavorSnapshot,
    disks: tuple[DiskSpec, ...],
    interfaces: tuple[InterfaceSpec, ...] | None = None,
) -> DomainSpec:
    """The domain of ``flavor`` on ``disks``, booting the image's kernel
    (fetched into the host's cache) when it names one."""
    facts = image_facts(host, instance.image_id)
    kernel = initrd = None
    if facts.kernel_id:
        kernel = str(_cached(host, facts.kernel_id, image_facts(host, facts.kernel_id)))
        if facts.ramdisk_id:
            initrd = str(_cached(host, facts.ramdisk_id, image_facts(host, facts.ramdisk_id)))
    console = host.console.path_for(str(instance.id))
    return DomainSpec(
        name=domain_name(instance.id),
        uuid=str(instance.id),
        vcpus=flavor.vcpus,
        memory_mb=flavor.ram_mb,
        disks=disks,
        kernel=kernel,
        initrd=initrd,
        cmdline=facts.cmdline if kernel else "",
        console_path=None if console is None else str(console),
        uefi=_uefi(facts.firmware, disks),
        interfaces=interfaces_of(host, instance) if interfaces is None else interfaces,
        volumes=_volumes(instance, host),
    )


def _on_volume(
    instance: Instance,
    host: ComputeContext,
    flavor: FlavorSnapshot,
    interfaces: tuple[InterfaceSpec, ...],
) -> DomainSpec:
    """Its root disk is its volume (vda), from the first boot."""
    console = host.console.path_for(str(instance.id))
    return DomainSpec(
        name=domain_name(instance.id),
        uuid=str(instance.id),
        vcpus=flavor.vcpus,
        memory_mb=flavor.ram_mb,
        disks=(),
        console_path=None if console is None else str(console),
        interfaces=interfaces,
        volumes=_volumes(instance, host),
    )


def _volumes(instance: Instance, host: ComputeContext) -> tuple[VolumeDisk, ...]:
    """The volumes the domain has, so a (re)start brings their logins up first."""
    if not instance.volumes:
        return ()
    if not host.chap_key:
        raise PermanentDriverError("this compute host has no storage key for volumes")
    return disks_of(host.app, host.chap_key, instance)


def _uefi(firmware: str, disks: tuple[DiskSpec, ...]) -> UefiBoot | None:
    if firmware not in FIRMWARE_TYPES:
        raise PermanentDriverError(
            f"hw_firmware_type {firmware!r} is not one of {', '.join(FIRMWARE_TYPES)}"
        )
    if firmware == "bios":
        return None
    nvram = Path(disks[0].path).with_name(NVRAM_FILE)
    return UefiBoot(OVMF_CODE, OVMF_VARS, str(nvram))


def _cached(host: ComputeContext, image_id: str, facts: ImageFacts) -> Path:
    """The image in the host's cache, inspected as its disk_format before first use."""
    fetch = host.fetch_image
    return host.images.ensure(
        image_id, facts.digest, lambda sink: fetch(image_id, sink), facts.disk_format
    )


def image_facts(host: ComputeContext, image_id: str) -> ImageFacts:
    """What the host needs of an image: fixed once it has data, so read
    from the ledger once per image."""
    if image_id not in host.image_facts:
        image = load(host.app, Image, UUID(image_id), "Image")
        if image.size is None:
            raise PermanentDriverError(f"image {image_id} has no data")
        sha512 = image.hash_value if image.hash_algo == "sha512" else None
        props = image.properties
        host.image_facts[image_id] = ImageFacts(
            image.disk_format,
            ImageDigest(image.size, sha512, image.checksum or None),
            kernel_id=props.get("kernel_id") or None,
            ramdisk_id=props.get("ramdisk_id") or None,
            cmdline=props.get("os_command_line") or DEFAULT_CMDLINE,
            firmware=props.get("hw_firmware_type") or "bios",
        )
    return host.image_facts[image_id]
