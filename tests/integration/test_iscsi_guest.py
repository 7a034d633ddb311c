"""Volumes on real QEMU guests (TCG, embedded libvirt), served by a private
tgtd on 127.0.0.1 with CHAP: hot-attach shows on the guest's console, detach
takes it away, data outlives a guest, a tgtd killed under a guest comes back
with its targets, and a guest boots from a volume. Slow (a boot each)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import libvirt
import libvirt_qemu
import pytest

from ops.guest_disk import BOOTLOADER_MARK
from ops.guest_images import CMDLINE, GuestImages
from ops.ports import free_port
from ops.tgtd import Tgtd, TgtdConfig, free_control_port
from workers.drivers.errors import PermanentDriverError
from workers.drivers.hypervisor import DiskSpec, DomainSpec, LibvirtHypervisor
from workers.drivers.iscsi import Portal, WantedExport, target_iqn
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_connector import QsdConnector, VolumeDisk
from workers.drivers.volume_files import VolumeFiles
from workers.drivers.volume_xml import AttachedVolume, volume_alias

pytestmark = pytest.mark.slow
GIB = 1 << 30
BOOT_TIMEOUT = 120.0  # TCG on a loaded 2-core machine
log = logging.getLogger(__name__)


@dataclass
class Volume:
    volume_id: str
    path: Path
    user: str
    secret: str = field(repr=False)


@dataclass
class Storage:
    """A storage host (tgtd, volume files) and a compute host's hypervisor."""

    tgtd: Tgtd
    files: VolumeFiles
    connector: QsdConnector
    hypervisor: LibvirtHypervisor
    wanted: dict[str, WantedExport] = field(default_factory=dict)

    def volume(self, size: int = GIB, image: Path | None = None) -> Volume:
        volume_id = str(uuid.uuid4())
        if image is None:
            path = self.files.ensure_blank(volume_id, size)
        else:
            path = self.files.ensure_from_image(volume_id, image, "qcow2", size)
        volume = Volume(volume_id, path, f"vol-{volume_id[:8]}", f"chap-{uuid.uuid4().hex}")
        self.tgtd.target.ensure_export(volume_id, str(path), volume.user, volume.secret)
        self.wanted[volume_id] = WantedExport(volume_id, str(path), volume.user, volume.secret)
        return volume

    def disk(self, volume: Volume, target: str, secret: str | None = None) -> VolumeDisk:
        """A new attachment of `volume`, let in by the ACL."""
        attachment = str(uuid.uuid4())
        address = self.tgtd.target.ensure_export(
            volume.volume_id, str(volume.path), volume.user, volume.secret
        )
        disk = VolumeDisk(
            attachment, volume.volume_id, target, address, volume.user, secret or volume.secret
        )
        self.tgtd.target.ensure_acl(volume.volume_id, disk.initiator_iqn)
        wanted = self.wanted[volume.volume_id]  # what a restarted tgtd gets back
        initiators = (*wanted.initiators, disk.initiator_iqn)
        self.wanted[volume.volume_id] = replace(wanted, initiators=initiators)
        return disk


@pytest.fixture
def storage(qemu_conn: libvirt.virConnect, tmp_path: Path, short_dir: Path) -> Iterator[Storage]:
    runner = SubprocessRunner()
    wanted: dict[str, WantedExport] = {}
    config = TgtdConfig(tmp_path / "tgtd", free_control_port(), Portal("127.0.0.1", free_port()))
    tgtd = Tgtd(config, restore=lambda: list(wanted.values()), runner=runner)
    connector = QsdConnector(short_dir / "conn", runner)
    hypervisor = LibvirtHypervisor(qemu_conn, "qemu", 1.0, connector, detach_timeout_s=90.0)
    tgtd.start()
    try:
        yield Storage(
            tgtd, VolumeFiles(tmp_path / "volumes", runner), connector, hypervisor, wanted
        )
    finally:
        for domain in hypervisor.list_domains():
            hypervisor.ensure_absent(domain.name)
        for attachment in connector.connected():
            connector.ensure_disconnected(attachment)
        tgtd.stop()


class Console:
    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        return self.path.read_text(errors="replace") if self.path.exists() else ""

    def wait_for(self, text: str, count: int = 1, timeout: float = BOOT_TIMEOUT) -> float:
        """Wait until `text` shows `count` times; return when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text().count(text) >= count:
                return time.monotonic()
            time.sleep(0.05)
        pytest.fail(f"the console never showed {text!r} x{count}: {self.text()[-2500:]!r}")

    def lines(self, start: str) -> list[str]:
        return [line.strip() for line in self.text().splitlines() if line.startswith(start)]


def _guest(
    storage: Storage, images: GuestImages, folder: Path, name: str
) -> tuple[DomainSpec, Console]:
    """A running guest with a root disk (vda) and an ephemeral one (vdb), so
    a first volume is the guest's third disk, vdc."""
    folder.mkdir()
    disks = []
    for target in ("vda", "vdb"):
        path = folder / f"{target}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1G"], check=True)
        disks.append(DiskSpec(str(path), target))
    console = Console(folder / "console.log")
    spec = DomainSpec(
        name, str(uuid.uuid4()), 1, 256, tuple(disks),
        kernel=str(images.kernel), initrd=str(images.initrd), cmdline=CMDLINE,
        console_path=str(console.path),
    )  # fmt: skip
    storage.hypervisor.ensure_running(spec)
    console.wait_for("cloudledger-guest: end of partitions")
    return spec, console


def _added(disk: VolumeDisk, blocks: int) -> str:
    serial = disk.volume_id[:20]
    return f"cloudledger-guest: disk {disk.target} added ({blocks} blocks, serial {serial})"


def test_a_hot_attached_volume_shows_in_the_guest_goes_on_detach_and_comes_back(
    storage: Storage, guest_images: GuestImages, tmp_path: Path
) -> None:
    spec, console = _guest(storage, guest_images, tmp_path / "guest", "instance-attach")
    volume = storage.volume(GIB)
    disk = storage.disk(volume, "vdc")

    began = time.monotonic()
    storage.hypervisor.ensure_volume_attached(spec.name, disk)
    attached = time.monotonic()
    seen = console.wait_for(_added(disk, GIB // 1024))
    log.info("attach call %.3f s, in the guest after %.3f s", attached - began, seen - began)

    assert storage.hypervisor.attached_volumes(spec.name) == [
        AttachedVolume(disk.attachment_id, "vdc")
    ]
    console.wait_for("cloudledger-guest: disk vdc wrote marker")
    [marker] = console.lines("cloudledger-guest: disk vdc wrote marker")
    [export] = storage.tgtd.target.list_exports()
    assert export.sessions == (disk.initiator_iqn,)  # logged in as the attachment itself

    began = time.monotonic()
    storage.hypervisor.ensure_volume_detached(spec.name, disk.attachment_id)
    log.info("detach call %.3f s", time.monotonic() - began)
    console.wait_for("cloudledger-guest: disk vdc removed")
    storage.tgtd.target.remove_acl(volume.volume_id, disk.initiator_iqn)
    assert storage.hypervisor.attached_volumes(spec.name) == []
    assert storage.tgtd.target.list_exports()[0].sessions == ()
    assert storage.tgtd.target.list_exports()[0].initiators == ()

    again = storage.disk(volume, "vdc")
    storage.hypervisor.ensure_volume_attached(spec.name, again)
    console.wait_for(_added(again, GIB // 1024), count=2)
    console.wait_for(f"cloudledger-guest: disk vdc marker {marker.split()[-1]}")


def test_a_wrong_chap_secret_is_refused_and_the_secret_is_nowhere(
    storage: Storage,
    guest_images: GuestImages,
    tmp_path: Path,
    qemu_conn: libvirt.virConnect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec, console = _guest(storage, guest_images, tmp_path / "guest", "instance-chap")
    volume = storage.volume(GIB)
    caplog.set_level(logging.DEBUG)

    wrong = storage.disk(volume, "vdc", secret="not-the-volume-secret")
    with pytest.raises(PermanentDriverError, match="Authentication failure"):
        storage.hypervisor.ensure_volume_attached(spec.name, wrong)
    assert storage.hypervisor.attached_volumes(spec.name) == []

    right = storage.disk(volume, "vdd")
    storage.hypervisor.ensure_volume_attached(spec.name, right)
    console.wait_for("cloudledger-guest: disk vdc added")  # the guest's third disk

    dom = qemu_conn.lookupByName(spec.name)
    secret = volume.secret
    ps = subprocess.run(["ps", "-eww", "-o", "args"], check=True, capture_output=True, text=True)
    ps_lines = ps.stdout
    assert "qemu-storage-daemon" in ps_lines and secret not in ps_lines
    for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE, libvirt.VIR_DOMAIN_XML_SECURE):
        assert secret not in dom.XMLDesc(flags)
    assert "qemu-storage-daemon" in caplog.text  # its runs were logged ...
    assert secret not in caplog.text  # ... without the secret
    # Nothing on disk: not the embedded driver's state and QEMU's logs, not
    # the connector's folders, not tgtd's log.
    [qemu_root] = parse_qs(urlsplit(qemu_conn.getURI()).query)["root"]
    folders = [str(tmp_path), str(storage.connector.root), qemu_root]
    grep = ["grep", "-rlF", "--", secret, *folders]
    found = subprocess.run(grep, check=False, capture_output=True, text=True)
    assert found.returncode == 1 and found.stdout == ""  # 1: searched, no match


def test_data_written_in_one_guest_is_read_in_the_next_then_the_volume_is_zeroed(
    storage: Storage, guest_images: GuestImages, tmp_path: Path
) -> None:
    first, console = _guest(storage, guest_images, tmp_path / "first", "instance-first")
    volume = storage.volume(GIB)
    disk = storage.disk(volume, "vdc")
    storage.hypervisor.ensure_volume_attached(first.name, disk)
    console.wait_for("cloudledger-guest: disk vdc wrote marker")
    [marker] = [line.split()[-1] for line in console.lines("cloudledger-guest: disk vdc wrote")]

    storage.hypervisor.ensure_absent(first.name)  # the instance is deleted
    storage.tgtd.target.remove_acl(volume.volume_id, disk.initiator_iqn)
    assert storage.tgtd.target.list_exports()[0].sessions == ()  # the volume is free
    assert storage.connector.connected() == []

    second, console = _guest(storage, guest_images, tmp_path / "second", "instance-second")
    disk = storage.disk(volume, "vdc")
    storage.hypervisor.ensure_volume_attached(second.name, disk)
    console.wait_for(f"cloudledger-guest: disk vdc marker {marker}")

    # Delete the volume: detach, drop the export, zero the file.
    storage.hypervisor.ensure_volume_detached(second.name, disk.attachment_id)
    storage.tgtd.target.remove_export(volume.volume_id)
    witness = tmp_path / "witness"
    os.link(volume.path, witness)
    storage.files.ensure_deleted(volume.path)
    shown = subprocess.run(
        ["tgtadm", "-C", str(storage.tgtd.config.control_port), "--lld", "iscsi",
         "--op", "show", "--mode", "target"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert target_iqn(volume.volume_id) not in shown
    with witness.open("rb") as file:
        assert not file.read(1 << 20).strip(b"\0")  # the marker's sector is zeros now


def test_a_sigkilled_tgtd_comes_back_and_the_guest_keeps_its_disk(
    storage: Storage, guest_images: GuestImages, tmp_path: Path, qemu_conn: libvirt.virConnect
) -> None:
    spec, console = _guest(storage, guest_images, tmp_path / "guest", "instance-restart")
    volume = storage.volume(GIB)
    disk = storage.disk(volume, "vdc")
    storage.hypervisor.ensure_volume_attached(spec.name, disk)
    console.wait_for("cloudledger-guest: disk vdc wrote marker")

    pid = storage.tgtd.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while not storage.tgtd.exited():
        time.sleep(0.01)
    storage.tgtd.start()  # what the stack's supervisor does
    assert storage.tgtd.restored == 1

    # I/O from the guest's QEMU after the restart: libiscsi logs in again
    # and the write lands in the volume's file.
    began = time.monotonic()
    device = f"/machine/peripheral/{volume_alias(disk.attachment_id)}/virtio-backend"
    command = f'qemu-io -d {device} "write -P 0x5a 1048576 4096"'
    libvirt_qemu.qemuMonitorCommand(
        qemu_conn.lookupByName(spec.name), command, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
    )
    log.info("first write after the restart took %.3f s", time.monotonic() - began)
    with volume.path.open("rb") as file:
        file.seek(1 << 20)
        assert file.read(4096) == b"\x5a" * 4096
    assert storage.tgtd.target.list_exports()[0].sessions == (disk.initiator_iqn,)
    assert "disk vdc removed" not in console.text()

    storage.hypervisor.ensure_volume_detached(spec.name, disk.attachment_id)
    console.wait_for("cloudledger-guest: disk vdc removed")


def test_a_guest_boots_from_a_volume_made_from_an_image(
    storage: Storage, whole_disk: Path, tmp_path: Path
) -> None:
    volume = storage.volume(GIB, image=whole_disk)
    disk = storage.disk(volume, "vda")
    console = Console(tmp_path / "console.log")
    spec = DomainSpec(
        "instance-bfv", str(uuid.uuid4()), 1, 256, (), console_path=str(console.path),
        volumes=(disk,),
    )  # fmt: skip

    storage.hypervisor.ensure_running(spec)

    console.wait_for("cloudledger-guest: end of partitions")
    console.wait_for(
        f"cloudledger-guest: disk vda present (1048576 blocks, serial {volume.volume_id[:20]})"
    )
    assert BOOTLOADER_MARK in console.text()  # booted through the volume's bootloader
    assert storage.tgtd.target.list_exports()[0].sessions == (disk.initiator_iqn,)
