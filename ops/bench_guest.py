"""`cloudledger bench guest`: real guests booted one at a time through the
HTTP API of a stack run with ``CLOUDLEDGER_HYPERVISOR=qemu``.

For each guest: API-to-ACTIVE as the client sees it, the ledger's own
Requested -> Spawned time, and the time until the guest's first line on its
console (read through the API, as `openstack console log show` does). Then,
for comparison, the hypervisor's own define+start of the same kind of
domain (kernel, initramfs, a qcow2 root disk), timed here on an embedded
QEMU driver of this process, so that the control plane's share of a boot is
the ledger's time less the hypervisor's."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import libvirt

from commands.bootstrap import Settings
from ops.bench import Bench, bench_client, ledger_boot_seconds
from ops.guest_images import CMDLINE, ensure_guest_images
from ops.seed import GUEST_IMAGE_NAME
from workers.drivers.embedded_qemu import open_embedded_qemu
from workers.drivers.hypervisor import DiskSpec, DomainSpec, LibvirtHypervisor

T = TypeVar("T")
POLL = 0.02
TIMEOUT = 180.0
# The compute service's own console lines; the guest's are everything else.
OURS = re.compile(r"^\[[^\]]+\] cloudledger: ")


async def _boot_one(bench: Bench, n: int) -> tuple[str, float, float]:
    """Boot, wait for ACTIVE and for the first guest line, then delete.
    Returns (server id, seconds to ACTIVE, seconds to the first line)."""
    client = bench.client
    started = time.monotonic()
    resp = await client.post("/compute/v2.1/servers", json=bench.boot_spec(n))
    resp.raise_for_status()
    server_id = str(resp.json()["server"]["id"])
    url = f"/compute/v2.1/servers/{server_id}"
    active = await _until(lambda: _status(bench, url), lambda s: s == "ACTIVE", started)
    first_line = await _until(lambda: _console(bench, url), _has_guest_line, started)
    await client.delete(url)
    await _until(lambda: _status(bench, url), lambda s: s is None, time.monotonic())
    return server_id, active, first_line


async def _until(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], since: float
) -> float:
    """Seconds from ``since`` until what ``read`` returns is ``done``."""
    deadline = since + TIMEOUT
    while time.monotonic() < deadline:
        if done(await read()):
            return time.monotonic() - since
        await asyncio.sleep(POLL)
    raise TimeoutError("the guest did not get there in time")


async def _status(bench: Bench, url: str) -> str | None:
    resp = await bench.client.get(url)
    if resp.status_code == 404:
        return None
    status = resp.json()["server"]["status"]
    if status == "ERROR":
        raise RuntimeError(f"{url}: ERROR {resp.json()['server'].get('fault')}")
    return str(status)


async def _console(bench: Bench, url: str) -> str:
    body = {"os-getConsoleOutput": {"length": 20}}
    resp = await bench.client.post(f"{url}/action", json=body)
    return str(resp.json().get("output", "")) if resp.status_code == 200 else ""


def _has_guest_line(output: str) -> bool:
    return any(line.strip() and not OURS.match(line) for line in output.splitlines())


async def _boots(
    settings: Settings, count: int, flavor: str
) -> tuple[int, list[tuple[str, float, float]]]:
    """The flavor's RAM, and each boot's figures."""
    async with bench_client(settings, flavor, GUEST_IMAGE_NAME) as bench:
        shown = await bench.client.get(f"/compute/v2.1/flavors/{bench.flavor_id}")
        ram_mb = int(shown.json()["flavor"]["ram"])
        return ram_mb, [await _boot_one(bench, n) for n in range(count)]


def hypervisor_define_and_start(settings: Settings, count: int, ram_mb: int) -> list[float]:
    """The hypervisor's own define+start of a guest like the stack's, timed
    on this process's embedded QEMU driver (disk made beforehand, untimed)."""
    images = ensure_guest_images(settings.guest_image_dir)
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # "not found" is expected
    seconds = []
    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        qemu = LibvirtHypervisor(open_embedded_qemu(Path(tmp) / "qemu"), "qemu", 1.0)
        for _ in range(count):
            root = Path(tmp) / "root.qcow2"
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1G"]
            subprocess.run(argv, check=True)
            guest = str(uuid.uuid4())
            spec = DomainSpec(
                f"bench-{guest[:8]}",
                guest,
                1,
                ram_mb,
                (DiskSpec(str(root), "vda"),),
                kernel=str(images.kernel),
                initrd=str(images.initrd),
                cmdline=CMDLINE,
                console_path=str(Path(tmp) / "console.log"),
            )
            started = time.monotonic()
            qemu.ensure_running(spec)
            seconds.append(time.monotonic() - started)
            qemu.ensure_absent(spec.name)
            root.unlink()
    return seconds


def _ms(values: list[float]) -> str:
    low, high = min(values) * 1000, max(values) * 1000
    return f"median {statistics.median(values) * 1000:.0f} ms (min {low:.0f}, max {high:.0f})"


def main_guest_bench(settings: Settings, count: int, flavor: str) -> int:
    ram_mb, boots = asyncio.run(_boots(settings, count, flavor))
    ledger = ledger_boot_seconds(settings.database_url, [b[0] for b in boots])
    hypervisor = hypervisor_define_and_start(settings, count, ram_mb)
    print(f"real guests: {len(boots)} booted one at a time, flavor {flavor}")
    print(
        f"API-to-ACTIVE (client, polled every {POLL * 1000:.0f} ms): {_ms([b[1] for b in boots])}"
    )
    print(f"Requested-to-Spawned (ledger events): {_ms(ledger)}")
    print(f"first guest line on the console (client): {_ms([b[2] for b in boots])}")
    print(f"the hypervisor's own define+start (measured here): {_ms(hypervisor)}")
    overhead = statistics.median(ledger) - statistics.median(hypervisor)
    print(f"control plane on top of define+start (ledger - hypervisor): {overhead * 1000:.0f} ms")
    return 0
