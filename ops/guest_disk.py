"""A whole-disk guest image: the same kernel and initramfs as the AKI/ARI
pair, behind a bootloader, so a guest boots from its root disk alone, from
BIOS or from UEFI firmware.

The disk is one FAT filesystem with no partition table (a "superfloppy"),
made without mounting anything: ``mkfs.vfat`` on a file, ``mcopy`` to fill
it, and ``syslinux --install`` to write SYSLINUX's boot sector for BIOS.
For UEFI, the removable-media path ``EFI/BOOT/BOOTX64.EFI`` holds
SYSLINUX's EFI build (Debian's syslinux-efi), which OVMF finds on the bare
FAT. ops/install.sh installs these tools.
The image is converted to qcow2, so the image store keeps only what is used."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ops.guest_images import CMDLINE, GuestImages

DISK_MIB = 64
LABEL = "CLGUEST"
# Debian's syslinux-efi has the EFI loader; syslinux-common, its modules.
EFI_LOADER = Path("/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi")
EFI_MODULE = Path("/usr/lib/syslinux/modules/efi64/ldlinux.e64")
# What SYSLINUX (BIOS and EFI builds alike) puts first on the kernel's
# command line, which the kernel prints: a direct kernel boot has none.
BOOTLOADER_MARK = "BOOT_IMAGE=vmlinuz"

SYSLINUX_CFG = f"""SERIAL 0 115200
PROMPT 0
DEFAULT guest
LABEL guest
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND {CMDLINE}
"""


def ensure_whole_disk(cache: Path, images: GuestImages) -> Path:
    """The qcow2 whole-disk image in ``cache``, built on first use."""
    target = cache / "whole-disk.qcow2"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        work = Path(scratch)
        raw = work / "disk.raw"
        _run("mkfs.vfat", "-C", "-n", LABEL, str(raw), str(DISK_MIB * 1024))
        (work / "syslinux.cfg").write_text(SYSLINUX_CFG)
        boot_files = [str(images.kernel), str(images.initrd), str(work / "syslinux.cfg")]
        # BIOS: SYSLINUX reads its config and the kernel from the root folder.
        _run("mcopy", "-i", str(raw), *boot_files, "::/")
        _run("syslinux", "--install", str(raw))
        # UEFI: the EFI build reads them from the folder it was loaded from.
        _run("mmd", "-i", str(raw), "::/EFI", "::/EFI/BOOT")
        loader = work / "BOOTX64.EFI"
        shutil.copyfile(EFI_LOADER, loader)
        efi_files = [str(loader), str(EFI_MODULE), *boot_files]
        _run("mcopy", "-i", str(raw), *efi_files, "::/EFI/BOOT/")
        converted = work / "disk.qcow2"
        _run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(converted))
        converted.replace(target)
    return target


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)
