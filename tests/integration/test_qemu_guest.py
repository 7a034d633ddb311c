"""The libvirt driver on real QEMU guests (TCG, embedded driver, no daemon):
a guest booted from a kernel and initramfs sees its disks, prints to its
serial console file, and every step converges and leaves no QEMU behind.
The same promises as test_hypervisor_contract.py, on a hypervisor that runs
something; slow (seconds per boot), so kept to one guest."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from ops.guest_disk import BOOTLOADER_MARK
from ops.guest_images import CMDLINE, MARKER, GuestImages
from workers.drivers.errors import PermanentDriverError
from workers.drivers.hypervisor import (
    OVMF_CODE,
    OVMF_VARS,
    BackingFile,
    DiskSpec,
    DomainInfo,
    DomainSpec,
    LibvirtHypervisor,
    UefiBoot,
)

GUEST_UUID = "6d0c9a52-8f1e-4a36-9b0d-2c7e5f4a1b3d"
BOOT_TIMEOUT = 120.0  # TCG on a loaded 2-core machine


@pytest.fixture
def qemu(qemu_conn: libvirt.virConnect) -> Iterator[LibvirtHypervisor]:
    hypervisor = LibvirtHypervisor(qemu_conn, "qemu")
    yield hypervisor
    for domain in hypervisor.list_domains():
        hypervisor.ensure_absent(domain.name)


def _disk(path: Path, size: str) -> DiskSpec:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return DiskSpec(str(path), "vdb" if path.name.startswith("eph") else "vda")


def _qemu_processes(name: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        named = f"guest={name}".encode()
        is_qemu = bool(args) and args[0].endswith(b"qemu-system-x86_64")
        if is_qemu and any(a == named or a.startswith(named + b",") for a in args):
            found.append(int(cmdline.parent.name))
    return found


def _console_until(path: Path, text: str) -> str:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        seen = path.read_text(errors="replace") if path.exists() else ""
        if text in seen:
            return seen
        time.sleep(0.2)
    pytest.fail(f"the console never showed {text!r}: {seen[-2000:]!r}")


def test_a_real_guest_boots_sees_its_disks_and_leaves_nothing_behind(
    qemu: LibvirtHypervisor, guest_images: GuestImages, tmp_path: Path
) -> None:
    console = tmp_path / "console.log"
    spec = DomainSpec(
        "instance-probe",
        GUEST_UUID,
        1,
        256,
        (_disk(tmp_path / "root.qcow2", "1G"), _disk(tmp_path / "eph0.qcow2", "2G")),
        kernel=str(guest_images.kernel),
        initrd=str(guest_images.initrd),
        cmdline=CMDLINE,
        console_path=str(console),
    )

    qemu.ensure_running(spec)
    seen = _console_until(console, "cloudledger-guest: end of partitions")
    assert "Linux version" in seen and MARKER in seen
    partitions = {line.split()[-1]: int(line.split()[2]) for line in _partitions(seen)}
    assert partitions == {"vda": 1 << 20, "vdb": 2 << 20}  # 1 KiB blocks
    assert qemu.get(spec.name) == DomainInfo(spec.name, GUEST_UUID, True, 1, 256)
    [pid] = _qemu_processes(spec.name)

    qemu.ensure_running(spec)  # already running: the same guest, untouched
    assert _qemu_processes(spec.name) == [pid]

    qemu.ensure_stopped(spec)
    assert qemu.state_of(spec.name) == "shutoff"
    assert _qemu_processes(spec.name) == []

    qemu.ensure_absent(spec.name)
    qemu.ensure_absent(spec.name)  # twice: still fine
    assert qemu.list_domains() == [] and _qemu_processes(spec.name) == []


def _partitions(console: str) -> list[str]:
    """The rows of /proc/partitions the guest printed (major minor blocks name)."""
    rows = []
    for line in console.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0].isdigit() and fields[1].isdigit():
            rows.append(line)
    return rows


def test_a_missing_kernel_is_a_permanent_error(qemu: LibvirtHypervisor, tmp_path: Path) -> None:
    spec = DomainSpec(
        "instance-nokernel",
        "0b7e2d4c-1a3f-4c5e-8d6b-9f0a1b2c3d4e",
        1,
        128,
        (_disk(tmp_path / "root.qcow2", "1G"),),
        kernel=str(tmp_path / "missing-vmlinuz"),
    )
    with pytest.raises(PermanentDriverError):
        qemu.ensure_running(spec)
    assert qemu.state_of(spec.name) in (None, "shutoff")  # nothing runs
    assert _qemu_processes(spec.name) == []


def _overlay(base: Path, path: Path, size: str = "") -> DiskSpec:
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(path)]
    subprocess.run([*argv, *([size] if size else [])], check=True)
    return DiskSpec(str(path), "vda", backing=BackingFile(str(base), "qcow2"))


def test_a_whole_disk_image_boots_through_its_bootloader_under_bios(
    qemu: LibvirtHypervisor, whole_disk: Path, tmp_path: Path
) -> None:
    console = tmp_path / "console.log"
    spec = DomainSpec(
        "instance-disk",
        "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        1,
        256,
        (_overlay(whole_disk, tmp_path / "root.qcow2"),),
        console_path=str(console),
    )

    qemu.ensure_running(spec)

    seen = _console_until(console, "cloudledger-guest: end of partitions")
    assert BOOTLOADER_MARK in seen and "Linux version" in seen
    assert "efi: EFI v" not in seen  # BIOS, not UEFI


def test_a_uefi_guest_boots_with_ovmf_and_its_nvram_goes_with_the_domain(
    qemu: LibvirtHypervisor, whole_disk: Path, tmp_path: Path
) -> None:
    console, nvram = tmp_path / "console.log", tmp_path / "uefi-vars.fd"
    spec = DomainSpec(
        "instance-uefi",
        "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
        1,
        256,
        (_overlay(whole_disk, tmp_path / "root.qcow2"),),
        console_path=str(console),
        uefi=UefiBoot(OVMF_CODE, OVMF_VARS, str(nvram)),
    )

    qemu.ensure_running(spec)

    seen = _console_until(console, "cloudledger-guest: end of partitions")
    assert "efi: EFI v" in seen and MARKER in seen  # the kernel found UEFI firmware
    assert nvram.is_file()  # the guest's own copy of the variable store
    qemu.ensure_absent(spec.name)
    assert not nvram.exists() and _qemu_processes(spec.name) == []


def test_uefi_without_ovmf_on_the_host_is_a_clear_permanent_error(
    qemu: LibvirtHypervisor, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-ovmf" / "OVMF_CODE_4M.fd")
    spec = DomainSpec(
        "instance-noovmf",
        "3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a7b",
        1,
        128,
        (_disk(tmp_path / "root.qcow2", "1G"),),
        uefi=UefiBoot(missing, OVMF_VARS, str(tmp_path / "vars.fd")),
    )

    with pytest.raises(PermanentDriverError, match="UEFI firmware is not installed"):
        qemu.ensure_running(spec)

    assert qemu.state_of(spec.name) is None and _qemu_processes(spec.name) == []


DUMP_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /lib/modules/order); do insmod /lib/modules/$module.ko; done
sleep 1
echo "vda-begins:$(head -c 24 /dev/vda | tr -c 'A-Za-z0-9-' '.')"
while true; do sleep 3600; done
"""


def _dumping_initrd(guest_images: GuestImages, folder: Path) -> Path:
    """The guest's initramfs with another /init, which prints the first bytes
    of the guest's disk: an archive appended to the first replaces its files."""
    root = folder / "init-root"
    root.mkdir()
    (root / "init").write_text(DUMP_INIT)
    (root / "init").chmod(0o755)
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=b"init\n",
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    initrd = folder / "initrd-dump.img"
    initrd.write_bytes(guest_images.initrd.read_bytes() + gzip.compress(archive))
    return initrd


def test_a_guest_never_reads_a_host_file_its_base_image_names(
    qemu: LibvirtHypervisor, guest_images: GuestImages, tmp_path: Path
) -> None:
    """Issue 19: a base image whose qcow2 header names a host file as its
    backing file. Left to build the chain from the headers, libvirt (9.0,
    embedded QEMU driver) honours the backing format the crafted header
    records, and the guest reads the host file as its disk (it printed
    HOSTSECRET in a probe). Its chain named in the domain (overlay, then
    base, then nothing) stops there: the guest reads zeros."""
    secret = tmp_path / "host-file"
    secret.write_bytes(b"HOSTSECRET-do-not-leak-1" + bytes(1 << 20))
    base = tmp_path / "base.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(secret), "-u",
         str(base), "1M"],
        check=True,
    )  # fmt: skip
    console = tmp_path / "console.log"
    spec = DomainSpec(
        "instance-leak",
        "4f5a6b7c-8d9e-4fa0-9b1c-2d3e4f5a6b7c",
        1,
        256,
        (_overlay(base, tmp_path / "root.qcow2", "1G"),),
        kernel=str(guest_images.kernel),
        initrd=str(_dumping_initrd(guest_images, tmp_path)),
        cmdline=CMDLINE,
        console_path=str(console),
    )

    qemu.ensure_running(spec)

    seen = _console_until(console, "vda-begins:")
    (line,) = [x for x in seen.splitlines() if "vda-begins:" in x]
    assert "HOSTSECRET" not in line
    assert line.strip().endswith("vda-begins:" + "." * 24)  # zeros: the chain ends at base
    [pid] = _qemu_processes(spec.name)
    opened = {os.path.realpath(fd) for fd in _fds(pid)}
    assert str(secret) not in opened and str(base) in opened


def _fds(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.append(os.readlink(fd))
        except OSError:
            continue
    return found
