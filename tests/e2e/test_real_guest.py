"""A real QEMU guest (software emulation, the embedded driver) booted
through the API with the unmodified CLI: its console shows the kernel and
the init's view of its disks, stop and start act on the guest, and delete
leaves no QEMU process, disk or console file behind. Slow (a real boot),
so one stack and few steps. A killed QEMU process shows as SHUTOFF within
one power-sync period."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    children,
    login,
    running_stack,
    wait_for,
    wait_until_gone,
)
from e2e.test_openstack_cli import as_json, ok, openstack
from ops.guest_disk import BOOTLOADER_MARK
from ops.guest_images import MARKER
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis
from ops.seed import DISK_IMAGE_NAME, GUEST_IMAGE_NAME, UEFI_IMAGE_NAME

pytestmark = pytest.mark.e2e

BOOT_TIMEOUT = 180.0  # TCG on a loaded 2-core machine


@pytest.fixture(scope="module")
def qemu_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/7"
    real = {
        "CLOUDLEDGER_HYPERVISOR": "qemu",
        "CLOUDLEDGER_POWER_SYNC_INTERVAL": "2",
        "CLOUDLEDGER_SHUTDOWN_TIMEOUT": "1",  # the busybox init ignores the ACPI button
    }
    with running_stack(pg_cluster, template_database, redis_url, "db", real) as stack:
        try:
            yield stack
        finally:
            _end_guests_of(stack)


def _end_guests_of(stack: Stack) -> None:
    """Guests outlive their workers by design (the embedded driver daemonizes
    QEMU), so a test that failed half-way could leave one running: end those
    whose disks are in this stack's state directory, by their pid."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if args[0].endswith("qemu-system-x86_64") and str(stack.state_dir) in " ".join(args):
            os.kill(int(cmdline.parent.name), signal.SIGKILL)


def _qemu_guests() -> dict[str, int]:
    """The QEMU processes on this machine: instance name -> pid."""
    return {name: pids[-1] for name, pids in _qemu_processes().items()}


def _qemu_pids(domain: str) -> list[int]:
    return _qemu_processes().get(domain, [])


def _qemu_processes() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if args and args[0].endswith("qemu-system-x86_64"):
            for arg in args:
                if named := re.match(r"guest=([^,]+)", arg):
                    found.setdefault(named.group(1), []).append(int(cmdline.parent.name))
    return found


def _console(stack: Stack, server: str) -> str:
    return ok(openstack(stack, "console", "log", "show", server))


def _status(stack: Stack, server: str) -> str:
    return str(as_json(openstack(stack, "server", "show", server, "-f", "json"))["status"])


def test_a_real_guest_boots_prints_its_disks_and_goes_without_a_trace(qemu_stack: Stack) -> None:
    stack = qemu_stack
    image = as_json(openstack(stack, "image", "show", GUEST_IMAGE_NAME, "-f", "json"))
    stored = stack.state_dir / "images" / image["id"]
    before = hashlib.md5(stored.read_bytes(), usedforsecurity=False).hexdigest()
    flavor = f"eph-{uuid.uuid4().hex[:6]}"
    ok(
        openstack(
            stack, "flavor", "create", "--ram", "256", "--disk", "1", "--ephemeral", "2", flavor
        )
    )
    name = f"guest-{uuid.uuid4().hex[:8]}"
    boot = ["server", "create", "--flavor", flavor, "--image", GUEST_IMAGE_NAME, "--nic", "none"]
    server = as_json(openstack(stack, *boot, "--wait", "-f", "json", name))
    assert server["status"] == "ACTIVE"
    domain = f"instance-{server['id']}"

    console = wait_for(
        lambda: (text := _console(stack, name)) and "end of partitions" in text and text,
        BOOT_TIMEOUT,
        "the guest's console to list its disks",
    )
    assert "Linux version" in console and MARKER in console
    rows = re.findall(r"^\s*\d+\s+\d+\s+(\d+)\s+(vd[a-z])\s*$", console, re.M)
    assert {dev: int(blocks) for blocks, dev in rows} == {"vda": 1 << 20, "vdb": 2 << 20}
    assert domain in _qemu_guests()
    tail = ok(openstack(stack, "console", "log", "show", "--lines", "3", name))
    assert len(tail.strip().splitlines()) <= 3

    ok(openstack(stack, "server", "stop", name))
    wait_for(lambda: _status(stack, name) == "SHUTOFF", 60, "the server to stop")
    assert domain not in _qemu_guests()
    ok(openstack(stack, "server", "start", name))
    wait_for(lambda: _status(stack, name) == "ACTIVE", 60, "the server to start")
    assert domain in _qemu_guests()

    # A soft reboot: the guest is asked to shut down, powered off when it
    # does not, and boots again (its console shows a second boot).
    boots = _console(stack, name).count(MARKER)
    ok(openstack(stack, "server", "reboot", "--wait", name))
    wait_for(lambda: _console(stack, name).count(MARKER) > boots, BOOT_TIMEOUT, "a second boot")
    assert _status(stack, name) == "ACTIVE"

    # A snapshot of the guest keeps its kernel and boots as a new server.
    snap = f"{name}-snap"
    ok(openstack(stack, "server", "image", "create", "--name", snap, "--wait", name))
    kept = as_json(openstack(stack, "image", "show", snap, "-f", "json"))["properties"]
    for key in ("kernel_id", "ramdisk_id", "os_command_line"):
        assert kept[key] == image["properties"][key]
    assert _status(stack, name) == "ACTIVE" and domain in _qemu_guests()  # running again
    second = as_json(
        openstack(
            stack,
            *boot[:3],
            flavor,
            "--image",
            snap,
            "--nic",
            "none",
            "--wait",
            "-f",
            "json",
            f"{name}-2",
        )
    )
    wait_for(
        lambda: MARKER in _console(stack, f"{name}-2"), BOOT_TIMEOUT, "the snapshot's guest to boot"
    )
    ok(openstack(stack, "server", "delete", "--wait", second["id"]))
    ok(openstack(stack, "image", "delete", snap))

    # Power-state sync: the guest's QEMU killed by its pid shows SHUTOFF.
    os.kill(_qemu_guests()[domain], signal.SIGKILL)
    wait_for(lambda: _status(stack, name) == "SHUTOFF", 30, "the sync to see the guest gone")
    actions = as_json(openstack(stack, "server", "event", "list", name, "-f", "json"))
    assert actions[0]["Action"] == "stop"  # the sync's own, newest first

    ok(openstack(stack, "server", "delete", "--wait", name))
    assert domain not in _qemu_guests()
    host_dirs = list((stack.state_dir / "hosts").glob("*"))
    leftovers = [p for d in host_dirs for p in d.rglob(f"*{server['id']}*")]
    assert leftovers == []  # no overlay, ephemeral disk or console file
    after = hashlib.md5(stored.read_bytes(), usedforsecurity=False).hexdigest()
    assert after == before == image["checksum"]  # the image in the store is untouched


def _host_of(stack: Stack, server: str) -> str:
    shown = as_json(openstack(stack, "server", "show", server, "-f", "json"))
    return str(shown["OS-EXT-SRV-ATTR:host"])


def _kill_worker(stack: Stack, host: str) -> int:
    (pid,) = children(stack.process.pid, f"worker compute --host {host}".encode())
    os.kill(pid, signal.SIGKILL)
    return pid


def _restarted_worker(stack: Stack, host: str, old_pid: int) -> None:
    wait_for(
        lambda: [
            p
            for p in children(stack.process.pid, f"worker compute --host {host}".encode())
            if p != old_pid
        ],
        30,
        f"a new compute worker for {host}",
    )


def test_a_uefi_whole_disk_guest_keeps_running_while_its_worker_restarts(
    qemu_stack: Stack,
) -> None:
    stack = qemu_stack
    name = f"uefi-{uuid.uuid4().hex[:8]}"
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", UEFI_IMAGE_NAME]
    server = as_json(openstack(stack, *boot, "--nic", "none", "--wait", "-f", "json", name))
    domain = f"instance-{server['id']}"
    console = wait_for(
        lambda: (text := _console(stack, name)) and "end of partitions" in text and text,
        BOOT_TIMEOUT,
        "the UEFI guest to boot from its disk",
    )
    # OVMF ran SYSLINUX's EFI loader from the disk, which started the kernel.
    assert BOOTLOADER_MARK in console and "efi: EFI v" in console and MARKER in console
    guest_pid = _qemu_guests()[domain]

    # The host's worker dies; its guest does not, and the new worker takes
    # it over: the same QEMU process, still ACTIVE, still controlled.
    host = _host_of(stack, name)
    _restarted_worker(stack, host, _kill_worker(stack, host))
    assert _qemu_guests()[domain] == guest_pid
    assert _status(stack, name) == "ACTIVE"
    assert MARKER in _console(stack, name)  # read by the new worker
    ok(openstack(stack, "server", "stop", name))
    wait_for(lambda: _status(stack, name) == "SHUTOFF", 60, "the server to stop")
    assert domain not in _qemu_guests()

    ok(openstack(stack, "server", "delete", "--wait", name))
    leftovers = list((stack.state_dir / "hosts").rglob(f"*{server['id']}*"))
    assert leftovers == []  # the NVRAM went with the disks


def test_a_worker_killed_as_its_guest_starts_leaves_one_running_guest(qemu_stack: Stack) -> None:
    stack = qemu_stack
    admin = login(stack, "admin", stack.admin_password, "admin")
    images = admin.client.get("/image/v2/images", params={"name": DISK_IMAGE_NAME}).json()
    body = boot_body(f"midway-{uuid.uuid4().hex[:8]}", images["images"][0]["id"])
    response = admin.client.post(f"{COMPUTE}/servers", json=body)
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    domain = f"instance-{server_id}"
    host = wait_for(lambda: _shown(admin, server_id)["OS-EXT-SRV-ATTR:host"], 30, "a host")
    # The moment QEMU exists, the spawn is between the domain's start and the
    # ledger's record of ACTIVE: kill the host's worker there.
    guest_pid = wait_for(lambda: _qemu_guests().get(domain), BOOT_TIMEOUT, "QEMU", interval=0.01)
    killed = _kill_worker(stack, host)
    status_at_kill = _shown(admin, server_id)["status"]
    _restarted_worker(stack, host, killed)

    wait_for(lambda: _shown(admin, server_id)["status"] == "ACTIVE", 60, "the spawn to converge")
    assert status_at_kill == "BUILD"  # the kill did land in the middle of the spawn
    # One guest. Whether libvirt kept the half-started QEMU or the restarted
    # spawn started a new one after it, never two, and no orphan.
    (pid,) = _qemu_pids(domain)
    assert pid == guest_pid or not Path(f"/proc/{guest_pid}").exists()
    wait_for(lambda: MARKER in _console(stack, server_id), BOOT_TIMEOUT, "the guest to boot")

    assert admin.client.delete(f"{COMPUTE}/servers/{server_id}").status_code == 204
    wait_until_gone(admin.client, server_id, 60)
    assert domain not in _qemu_guests()
    assert list((stack.state_dir / "hosts").rglob(f"*{server_id}*")) == []
    admin.client.close()


def _shown(admin: Session, server_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = admin.client.get(f"{COMPUTE}/servers/{server_id}").json()["server"]
    return shown
