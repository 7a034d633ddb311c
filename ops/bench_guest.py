"""`cloudledger bench guest`: real guests booted one at a time through the
HTTP API of a stack run with ``CLOUDLEDGER_HYPERVISOR=qemu``.

For each guest: API-to-ACTIVE as the client sees it, the ledger's own
Requested -> Spawned time, and the time until the guest's first line on its
console (read through the API, as `openstack console log show` does). The
compute host logs on that console how long the hypervisor's own define and
start took, so the control plane's share of each boot is the ledger's time
less the hypervisor's."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from commands.bootstrap import Settings
from ops.bench import Bench, bench_client, ledger_boot_seconds
from ops.seed import GUEST_IMAGE_NAME
from workers.jobs.compute import HYPERVISOR_TIMING

T = TypeVar("T")
POLL = 0.02
TIMEOUT = 180.0
# The compute service's own console lines; the guest's are everything else.
OURS = re.compile(r"^\[[^\]]+\] cloudledger: ")
TIMING = re.compile(re.escape(HYPERVISOR_TIMING) + r" \S+ in ([0-9.]+) s")


@dataclass(frozen=True)
class GuestBoot:
    server_id: str
    to_active: float  # API to ACTIVE, as the client saw it
    to_first_line: float  # API to the guest's first console line
    define_and_start: float  # the hypervisor's own part, as the host timed it


async def _boot_one(bench: Bench, n: int) -> GuestBoot:
    """Boot, wait for ACTIVE and for the first guest line, then delete."""
    client = bench.client
    started = time.monotonic()
    resp = await client.post("/compute/v2.1/servers", json=bench.boot_spec(n))
    resp.raise_for_status()
    server_id = str(resp.json()["server"]["id"])
    url = f"/compute/v2.1/servers/{server_id}"
    active = await _until(lambda: _status(bench, url), lambda s: s == "ACTIVE", started)
    first_line = await _until(lambda: _console(bench, url), _has_guest_line, started)
    timed = TIMING.search(await _console(bench, url, 200))
    if timed is None:
        raise RuntimeError(f"{url}: the host did not log its define+start time")
    await client.delete(url)
    await _until(lambda: _status(bench, url), lambda s: s is None, time.monotonic())
    return GuestBoot(server_id, active, first_line, float(timed.group(1)))


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


async def _console(bench: Bench, url: str, lines: int = 20) -> str:
    body = {"os-getConsoleOutput": {"length": lines}}
    resp = await bench.client.post(f"{url}/action", json=body)
    return str(resp.json().get("output", "")) if resp.status_code == 200 else ""


def _has_guest_line(output: str) -> bool:
    return any(line.strip() and not OURS.match(line) for line in output.splitlines())


async def _boots(settings: Settings, count: int, flavor: str) -> list[GuestBoot]:
    async with bench_client(settings, flavor, GUEST_IMAGE_NAME) as bench:
        return [await _boot_one(bench, n) for n in range(count)]


def _ms(values: list[float]) -> str:
    low, high = min(values) * 1000, max(values) * 1000
    return f"median {statistics.median(values) * 1000:.0f} ms (min {low:.0f}, max {high:.0f})"


def main_guest_bench(settings: Settings, count: int, flavor: str) -> int:
    boots = asyncio.run(_boots(settings, count, flavor))
    ledger = ledger_boot_seconds(settings.database_url, [b.server_id for b in boots])
    hypervisor = {b.server_id: b.define_and_start for b in boots}
    overheads = [ledger[sid] - hypervisor[sid] for sid in ledger]
    print(f"real guests: {len(boots)} booted one at a time, flavor {flavor}")
    print(f"API to ACTIVE (client, polled every {POLL * 1000:.0f} ms): ", end="")
    print(_ms([b.to_active for b in boots]))
    print(f"Requested to Spawned (ledger events): {_ms(list(ledger.values()))}")
    print(f"first guest line on the console (client): {_ms([b.to_first_line for b in boots])}")
    print(f"the hypervisor's define+start (timed by the host): {_ms(list(hypervisor.values()))}")
    print(f"control plane: ledger time less define+start, per boot: {_ms(overheads)}")
    return 0
