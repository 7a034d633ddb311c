"""What a domain is made of (its disks, firmware, kernel, volumes and
interfaces) and what makes one valid, as the compute jobs describe it and
the hypervisor drivers and the domain XML take it: plain values, apart
from the drivers, so that neither imports the other."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from workers.drivers.domain_interfaces import InterfaceSpec, validate_interfaces
from workers.drivers.errors import PermanentDriverError
from workers.drivers.volume_connector import VolumeDisk

DISK_FORMATS = frozenset({"qcow2", "raw"})


@dataclass(frozen=True)
class BackingFile:
    """The one file a disk is backed by: a host's own checked base image."""

    path: str
    format: str


@dataclass(frozen=True)
class DiskSpec:
    """One file-backed disk of a domain, seen by the guest as /dev/<target>.

    Its backing chain is named in full (``backing``, or none): libvirt then
    builds the chain from the domain document and follows no backing file
    that an image's header names (docs/image-safety.md)."""

    path: str
    target: str
    format: str = "qcow2"
    backing: BackingFile | None = None


@dataclass(frozen=True)
class UefiBoot:
    """UEFI firmware for one domain: OVMF's read-only code, and the domain's
    own NVRAM (its boot variables), which libvirt copies from the template
    when it does not exist yet."""

    code: str
    vars_template: str
    nvram: str


# Debian's ovmf package (the 4 MiB builds, which libvirt's descriptors prefer).
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


@dataclass(frozen=True)
class DomainSpec:
    """Everything needed to define a domain on a compute host."""

    name: str
    uuid: str
    vcpus: int
    memory_mb: int
    disks: tuple[DiskSpec, ...]
    # Direct kernel boot (an AKI/ARI pair), for an image that names one.
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str = ""
    # Where a real guest's serial console goes (the test driver has none).
    console_path: str | None = None
    # UEFI firmware (an image with hw_firmware_type=uefi); None boots BIOS.
    uefi: UefiBoot | None = None
    # Volumes attached from the first boot (a volume as vda: boot from volume).
    volumes: tuple[VolumeDisk, ...] = ()
    # Network interfaces, in the order the guest sees them (eth0, eth1...).
    interfaces: tuple[InterfaceSpec, ...] = ()


@dataclass(frozen=True)
class DomainInfo:
    """What the hypervisor reports about one defined domain."""

    name: str
    uuid: str
    running: bool
    vcpus: int
    memory_mb: int


def canonical_uuid(value: str) -> str:
    """Return `value` in libvirt's lower-case hyphenated form.

    Raises PermanentDriverError if it is not a uuid.
    """
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PermanentDriverError(f"not a uuid: {value!r}") from None


def validate_spec(spec: DomainSpec) -> None:
    """Raise PermanentDriverError if any hypervisor would reject `spec`.

    Both the fake and the libvirt driver call this first, so they reject the
    same specs with the same error type.
    """
    canonical_uuid(spec.uuid)
    if not spec.name or "/" in spec.name:
        raise PermanentDriverError(f"invalid domain name: {spec.name!r}")
    if spec.vcpus < 1 or spec.memory_mb < 1:
        raise PermanentDriverError(f"{spec.name}: vcpus and memory must be >= 1")
    targets = [disk.target for disk in spec.disks] + [v.target for v in spec.volumes]
    for volume in spec.volumes:
        volume.validate()
    if len(set(targets)) != len(targets):
        raise PermanentDriverError(f"{spec.name}: duplicate disk target in {targets}")
    for disk in spec.disks:
        formats = [disk.format, *([disk.backing.format] if disk.backing else [])]
        if any(f not in DISK_FORMATS for f in formats):
            raise PermanentDriverError(f"{spec.name}: unknown format in {formats}")
    for boot_file in (spec.kernel, spec.initrd):
        # A missing kernel stays missing: no retry will boot it.
        if boot_file and not os.path.isfile(boot_file):
            raise PermanentDriverError(f"{spec.name}: no kernel or initrd at {boot_file}")
    validate_interfaces(spec.name, spec.interfaces)
    if spec.uefi is not None:
        for firmware in (spec.uefi.code, spec.uefi.vars_template):
            # Without it QEMU would boot nothing and sit there: fail clearly.
            if not os.path.isfile(firmware):
                raise PermanentDriverError(
                    f"{spec.name}: UEFI firmware is not installed on this host"
                    f" (no {firmware}; Debian's ovmf package has it)"
                )
