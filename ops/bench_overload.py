"""`cloudledger bench overload`: offer boots faster than the cloud can finish them.

Boots arrive at a fixed rate, whatever happens to the earlier ones (an open
loop, as many independent users would), for a while. The report: how many
were accepted, how many refused with 429, the peak of work in flight, how
long the backlog took to drain once the offer stopped, and whether every
accepted boot reached ACTIVE. The accepted servers are deleted afterwards."""

from __future__ import annotations

import asyncio
import collections
import time

import psycopg

from commands.bootstrap import Settings
from ops.bench import Bench, Mode, bench_client

SAMPLE_EVERY = 0.5
DRAIN_TIMEOUT = 300.0


def _in_flight(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM servers WHERE task_state IS NOT NULL").fetchone()
    return int(row[0]) if row else 0


def _states(database_url: str, ids: list[str]) -> collections.Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT vm_state FROM servers WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    return collections.Counter(str(r[0]) for r in rows)


async def _offer(
    bench: Bench, rate: float, seconds: float
) -> tuple[collections.Counter[int], list[str]]:
    statuses: collections.Counter[int] = collections.Counter()
    accepted: list[str] = []

    async def boot(n: int) -> None:
        try:
            resp = await bench.client.post("/compute/v2.1/servers", json=bench.boot_spec(n))
        except Exception:
            statuses[0] += 1
            return
        statuses[resp.status_code] += 1
        if resp.status_code == 202:
            accepted.append(resp.json()["server"]["id"])

    started, tasks, n = time.monotonic(), [], 0
    while time.monotonic() - started < seconds:
        tasks.append(asyncio.create_task(boot(n)))
        n += 1
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    return statuses, accepted


async def _sample_peak(database_url: str, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, await asyncio.to_thread(_in_flight, database_url))
        await asyncio.sleep(SAMPLE_EVERY)
    return peak


async def _run(settings: Settings, rate: float, seconds: float, mode: Mode) -> int:
    async with bench_client(settings, mode.flavor, mode.image, mode.networks) as bench:
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_peak(settings.database_url, stop))
        statuses, accepted = await _offer(bench, rate, seconds)
        offered_until = time.monotonic()
        while _in_flight(settings.database_url) > 0:
            if time.monotonic() - offered_until > DRAIN_TIMEOUT:
                break
            await asyncio.sleep(0.2)
        drained = time.monotonic() - offered_until
        stop.set()
        peak = await sampler
        states = _states(settings.database_url, accepted)
        offered = sum(statuses.values())
        print(f"offered {offered} boots at {rate:g}/s for {seconds:g} s")
        print(f"accepted (202): {statuses[202]}, refused (429): {statuses[429]}, ", end="")
        others = {k: v for k, v in statuses.items() if k not in (202, 429)}
        print(f"other answers: {others or 'none'}")
        print(f"peak in flight: {peak}; drained {drained:.1f} s after the offer stopped")
        print(f"accepted servers by state: {dict(states)}")
        gate = asyncio.Semaphore(20)

        async def delete(sid: str) -> None:
            async with gate:
                await bench.client.delete(f"/compute/v2.1/servers/{sid}")

        await asyncio.gather(*(delete(sid) for sid in accepted))
        ok = states.get("active", 0) == len(accepted) and not others
        return 0 if ok else 1


def main_overload(settings: Settings, rate: float, seconds: float, mode: Mode) -> int:
    return asyncio.run(_run(settings, rate, seconds, mode))
