"""Volumes and real QEMU guests, through the unmodified CLI (slow: real
boots under TCG). A 1 GiB volume hot-plugged into a running guest shows on
its console as vdc of 1048576 blocks with the volume's id as serial; it
goes on detach and comes back on re-attach; the marker the guest wrote
on it outlives the guest and is read by the next one; a server booted
from a volume made from an image boots from it. The times from the API
call to available, to in-use and to the disk seen in the guest are printed
(pytest -s) for docs/block-storage.md."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from commands.bootstrap import build_app
from e2e.helpers import Stack, login, running_stack, wait_for
from e2e.test_openstack_cli import as_json, ok, openstack
from e2e.test_real_guest import BOOT_TIMEOUT, _end_guests_of
from ops.guest_disk import BOOTLOADER_MARK
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis
from ops.seed import DISK_IMAGE_NAME, GUEST_IMAGE_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
WAIT = 60.0


@pytest.fixture(scope="module")
def qemu_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/8"
    real = {"CLOUDLEDGER_HYPERVISOR": "qemu", "CLOUDLEDGER_SHUTDOWN_TIMEOUT": "1"}
    with running_stack(pg_cluster, template_database, redis_url, "db", real, hosts=1) as stack:
        try:
            yield stack
        finally:
            _end_guests_of(stack)


def _volume(stack: Stack, name: str) -> dict[str, Any]:
    found: dict[str, Any] = as_json(openstack(stack, "volume", "show", name, "-f", "json"))
    return found


def _wait_volume(stack: Stack, name: str, status: str) -> float:
    """Seconds until the volume shows ``status``."""
    began = time.monotonic()
    wait_for(lambda: _volume(stack, name)["status"] == status, WAIT, f"{name} {status}")
    return time.monotonic() - began


def _console(stack: Stack, server: str) -> str:
    return ok(openstack(stack, "console", "log", "show", server))


def _wait_console(stack: Stack, server: str, pattern: str, timeout: float = WAIT) -> re.Match[str]:
    found: re.Match[str] = wait_for(
        lambda: re.search(pattern, _console(stack, server)), timeout, f"{pattern!r} on {server}"
    )
    return found


def _timed_attach(stack: Stack, server_id: str, name: str) -> str:
    """Create and attach a volume over HTTP, polling every 20 ms: the times
    from each call to available, to in-use and to the guest's console line,
    and the ledger's share of each (its events' own times)."""
    admin = login(stack, "admin", stack.admin_password, "admin")
    volumes = f"/volume/v3/{admin.project_id}/volumes"
    began = time.monotonic()
    created = admin.client.post(volumes, json={"volume": {"size": 1, "name": name}})
    assert created.status_code == 202, created.text
    volume_id = str(created.json()["volume"]["id"])

    def status() -> str:
        return str(admin.client.get(f"{volumes}/{volume_id}").json()["volume"]["status"])

    wait_for(lambda: status() == "available", WAIT, "available", interval=0.02)
    to_available = time.monotonic() - began
    began = time.monotonic()
    path = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
    attached = admin.client.post(path, json={"volumeAttachment": {"volumeId": volume_id}})
    assert attached.status_code == 200, attached.text
    wait_for(lambda: status() == "in-use", WAIT, "in-use", interval=0.02)
    to_in_use = time.monotonic() - began
    action = f"/compute/v2.1/servers/{server_id}/action"

    def console() -> str:
        answer = admin.client.post(action, json={"os-getConsoleOutput": {"length": 50}})
        return str(answer.json().get("output", ""))

    wait_for(lambda: f"serial {volume_id[:20]}" in console(), WAIT, "vdc seen", interval=0.02)
    to_seen = time.monotonic() - began
    spans = _ledger_spans(stack, volume_id)
    print(
        f"\nvolume: API to available {to_available:.3f} s (ledger {spans['made']:.3f} s),"
        f" attach to in-use {to_in_use:.3f} s (ledger {spans['attached']:.3f} s: volume host"
        f" {spans['granted']:.3f} s, compute host {spans['plugged']:.3f} s),"
        f" to vdc in the guest's console {to_seen:.3f} s"
    )
    return volume_id


def _ledger_spans(stack: Stack, volume_id: str) -> dict[str, float]:
    """Seconds between the volume's events, as the ledger stamped them."""
    app = build_app(stack.database_url, pool_size=1)
    try:
        events = list(app.events.get(UUID(volume_id)))
    finally:
        app.close()
    at = {type(e).__name__: e.timestamp for e in events}
    return {
        "made": (at["Provisioned"] - at["Requested"]).total_seconds(),
        "granted": (at["AccessGranted"] - at["AttachRequested"]).total_seconds(),
        "plugged": (at["Attached"] - at["AccessGranted"]).total_seconds(),
        "attached": (at["Attached"] - at["AttachRequested"]).total_seconds(),
    }


def _guest(stack: Stack, flavor: str, name: str) -> None:
    boot = ["server", "create", "--flavor", flavor, "--image", GUEST_IMAGE_NAME, "--nic", "none"]
    ok(openstack(stack, *boot, "--wait", name))
    _wait_console(stack, name, "end of partitions", BOOT_TIMEOUT)


def test_a_volume_in_a_real_guest_is_vdc_goes_comes_back_and_outlives_it(
    qemu_stack: Stack,
) -> None:
    stack, suffix = qemu_stack, uuid.uuid4().hex[:6]
    flavor, volume = f"vol-eph-{suffix}", f"data-{suffix}"
    ok(
        openstack(
            stack, "flavor", "create", "--ram", "256", "--disk", "1", "--ephemeral", "1", flavor
        )
    )
    _guest(stack, flavor, f"first-{suffix}")

    server_id = as_json(openstack(stack, "server", "show", f"first-{suffix}", "-f", "json"))["id"]
    volume_id = _timed_attach(stack, server_id, volume)
    added = rf"disk vdc added \(1048576 blocks, serial {volume_id[:20]}\)"
    _wait_console(stack, f"first-{suffix}", added)
    marker = _wait_console(stack, f"first-{suffix}", r"disk vdc wrote marker ([0-9a-f-]{36})")[1]

    ok(openstack(stack, "server", "remove", "volume", f"first-{suffix}", volume))
    _wait_volume(stack, volume, "available")
    _wait_console(stack, f"first-{suffix}", "disk vdc removed")
    ok(openstack(stack, "server", "add", "volume", f"first-{suffix}", volume))
    _wait_volume(stack, volume, "in-use")
    _wait_console(stack, f"first-{suffix}", rf"disk vdc marker {marker}")  # back, with its data

    # The server goes, the volume stays with its data, for the next one.
    ok(openstack(stack, "server", "delete", "--wait", f"first-{suffix}"))
    _wait_volume(stack, volume, "available")
    _guest(stack, flavor, f"second-{suffix}")
    ok(openstack(stack, "server", "add", "volume", f"second-{suffix}", volume))
    _wait_console(stack, f"second-{suffix}", rf"disk vdc marker {marker}")
    ok(openstack(stack, "server", "delete", "--wait", f"second-{suffix}"))
    _wait_volume(stack, volume, "available")
    ok(openstack(stack, "volume", "delete", volume))


def test_a_server_boots_from_a_volume_made_from_an_image(qemu_stack: Stack) -> None:
    stack, suffix = qemu_stack, uuid.uuid4().hex[:6]
    root = f"root-{suffix}"
    ok(openstack(stack, "volume", "create", "--size", "1", "--image", DISK_IMAGE_NAME, root))
    _wait_volume(stack, root, "available")
    volume_id = _volume(stack, root)["id"]
    boot = ["server", "create", "--flavor", "m1.tiny", "--volume", root, "--nic", "none"]
    ok(openstack(stack, *boot, "--wait", f"bfv-{suffix}"))
    console = _wait_console(
        stack,
        f"bfv-{suffix}",
        rf"disk vda present \(1048576 blocks, serial {volume_id[:20]}\)",
        BOOT_TIMEOUT,
    )
    assert BOOTLOADER_MARK in console.string  # booted through the volume's bootloader
    assert _volume(stack, root)["status"] == "in-use"
    ok(openstack(stack, "server", "delete", "--wait", f"bfv-{suffix}"))
    _wait_volume(stack, root, "available")
