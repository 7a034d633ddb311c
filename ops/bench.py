"""`cloudledger bench boot`: boot (and delete) servers through the HTTP API.

Each of C clients loops: POST a server, wait until it is ACTIVE, DELETE it,
wait until it is gone. Status comes from one shared poller listing
/servers/detail every 10 ms, so the client-side figure overstates by up to
one poll; the ledger figure is exact (Requested -> Spawned event timestamps).
With ``--keep`` servers are deleted only at the end, so they pile up, and
the first and last hundred boots are compared."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import psycopg

from commands.bootstrap import Settings
from ops import cpu

POLL = 0.01
TIMEOUT = 120.0
UNLIMITED = {"instances": -1, "cores": -1, "ram": -1}


@dataclass
class Results:
    boot_seconds: list[float] = field(default_factory=list)
    request_seconds: list[float] = field(default_factory=list)  # the POST alone
    server_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_at: dict[int, dict[str, float]] = field(default_factory=dict)  # by boots done


@dataclass
class Bench:
    """An admin client of the API, with the image and flavor to boot."""

    client: httpx.AsyncClient
    image_id: str
    flavor_id: str

    def boot_spec(self, n: int) -> dict[str, object]:
        spec = {"name": f"bench-{n}", "flavorRef": self.flavor_id, "imageRef": self.image_id}
        return {"server": {**spec, "networks": "none"}}


@contextlib.asynccontextmanager
async def bench_client(settings: Settings, flavor: str, image: str) -> AsyncIterator[Bench]:
    """Logged in as admin, with the admin project's quota lifted meanwhile."""
    async with httpx.AsyncClient(base_url=settings.api_url, timeout=30) as client:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "password": settings.admin_password}},
                },
                "scope": {"project": {"name": "admin"}},
            }
        }
        resp = await client.post("/identity/v3/auth/tokens", json=body)
        resp.raise_for_status()
        client.headers["X-Auth-Token"] = resp.headers["X-Subject-Token"]
        client.headers["OpenStack-API-Version"] = "compute 2.37"
        project = resp.json()["token"]["project"]["id"]
        images = (await client.get("/image/v2/images", params={"name": image})).json()["images"]
        flavors = (await client.get("/compute/v2.1/flavors")).json()["flavors"]
        flavor_id = next(f["id"] for f in flavors if flavor in (f["name"], f["id"]))
        quota_url = f"/compute/v2.1/os-quota-sets/{project}"
        before = (await client.get(quota_url)).json()["quota_set"]
        await client.put(quota_url, json={"quota_set": UNLIMITED})
        try:
            yield Bench(client, images[0]["id"], flavor_id)
        finally:
            restore = {k: before[k] for k in UNLIMITED if k in before}
            await client.put(quota_url, json={"quota_set": restore})


class StatusBoard:
    """One poller for all clients: lists servers every POLL seconds (as a
    dashboard would) and wakes the clients whose server changed, so 50 clients
    cost the API 100 list requests a second, not thousands of GETs. With
    ``only_building``, it lists only servers still in BUILD (others are done)."""

    def __init__(self, client: httpx.AsyncClient, only_building: bool = False) -> None:
        self.client, self.only_building = client, only_building
        self.status: dict[str, str] = {}
        self.polled_at = 0.0  # when the listing behind ``status`` was asked for
        self.changed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        params = {"status": "BUILD"} if self.only_building else {}
        while not stop.is_set():
            asked = time.monotonic()
            resp = await self.client.get("/compute/v2.1/servers/detail", params=params)
            if resp.status_code == 200:
                self.status = {s["id"]: s["status"] for s in resp.json()["servers"]}
                self.polled_at = asked
                self.changed.set()
                self.changed = asyncio.Event()
            await asyncio.sleep(POLL)

    async def wait(self, server_id: str, done: Callable[[str | None], bool]) -> None:
        """Until a listing asked for after this call shows ``done``."""
        since, deadline = time.monotonic(), time.monotonic() + TIMEOUT
        while self.polled_at <= since or not done(self.status.get(server_id)):
            if time.monotonic() > deadline:
                raise TimeoutError(server_id)
            await self.changed.wait()


async def _client(
    bench: Bench,
    board: StatusBoard,
    todo: asyncio.Queue[int],
    results: Results,
    keep: bool,
    on_booted: Callable[[], None],
) -> None:
    client = bench.client
    while True:
        try:
            n = todo.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.monotonic()
        resp = await client.post("/compute/v2.1/servers", json=bench.boot_spec(n))
        results.request_seconds.append(time.monotonic() - started)
        if resp.status_code != 202:
            results.errors.append(f"boot {resp.status_code}: {resp.text[:200]}")
            continue
        sid = resp.json()["server"]["id"]
        if keep:  # gone from the BUILD list: ACTIVE or ERROR
            await board.wait(sid, lambda status: status is None)
        else:
            await board.wait(sid, lambda status: status in ("ACTIVE", "ERROR"))
        results.boot_seconds.append(time.monotonic() - started)
        results.server_ids.append(sid)
        on_booted()
        if not keep:
            await client.delete(f"/compute/v2.1/servers/{sid}")
            await board.wait(sid, lambda status: status is None)


async def _run(settings: Settings, servers: int, concurrency: int, mode: Mode) -> Results:
    results = Results()
    me = {os.getpid(): "bench"}
    # The stack serving the API, not every control plane on this machine.
    stack = cpu.stack_root(settings.api_port)
    if stack is None:
        print(f"bench: nothing listens on port {settings.api_port}: CPU is the bench's alone")
    results.cpu_at[0] = cpu.snapshot(stack, me)

    def on_booted() -> None:
        done = len(results.boot_seconds)
        if mode.keep and done in (100, servers - 100, servers):
            results.cpu_at[done] = cpu.snapshot(stack, me)

    async with bench_client(settings, mode.flavor, mode.image) as bench:
        todo: asyncio.Queue[int] = asyncio.Queue()
        for n in range(servers):
            todo.put_nowait(n)
        board, stop = StatusBoard(bench.client, only_building=mode.keep), asyncio.Event()
        poller = asyncio.create_task(board.run(stop))
        clients = (
            _client(bench, board, todo, results, mode.keep, on_booted) for _ in range(concurrency)
        )
        await asyncio.gather(*clients)
        stop.set()
        await poller
        results.cpu_at[-1] = cpu.snapshot(stack, me)
        if mode.keep:
            await _report_kept(bench, results)
    return results


async def _report_kept(bench: Bench, results: Results) -> None:
    """With every server alive: how fast a full listing is, then delete them all."""
    timings = []
    for _ in range(50):
        started = time.monotonic()
        resp = await bench.client.get("/compute/v2.1/servers/detail", params={"limit": 1000})
        resp.raise_for_status()
        timings.append(time.monotonic() - started)
    live = len(resp.json()["servers"])
    print(_summary(f"GET /servers/detail?limit=1000 with {live} servers", timings))
    first, last = results.boot_seconds[:100], results.boot_seconds[-100:]
    print(_summary("first 100 boots (client)", first))
    print(_summary("last 100 boots (client)", last))
    gate = asyncio.Semaphore(20)

    async def delete(sid: str) -> None:
        async with gate:
            await bench.client.delete(f"/compute/v2.1/servers/{sid}")

    await asyncio.gather(*(delete(sid) for sid in results.server_ids))


@dataclass(frozen=True)
class Mode:
    flavor: str
    image: str
    keep: bool = False


def ledger_boot_seconds(database_url: str, server_ids: list[str]) -> dict[str, float]:
    """Each server's Requested -> Spawned time, from the event timestamps."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id::text, extract(epoch FROM launched_at - created_at) FROM servers "
            "WHERE id = ANY(%s::uuid[]) AND launched_at IS NOT NULL",
            (server_ids,),
        ).fetchall()
    return {str(r[0]): float(r[1]) for r in rows}


def _summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{label}: median {statistics.median(ordered) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )


def main_bench(settings: Settings, servers: int, concurrency: int, mode: Mode) -> int:
    started = time.monotonic()
    results = asyncio.run(_run(settings, servers, concurrency, mode))
    elapsed = time.monotonic() - started
    done = len(results.boot_seconds)
    what = "booted" if mode.keep else "booted and deleted"
    print(f"servers: {done} {what} of {servers}, concurrency {concurrency}")
    print(_summary("boot request answered (client)", results.request_seconds))
    print(_summary("boot-to-ACTIVE (client, polled)", results.boot_seconds))
    ledger = ledger_boot_seconds(settings.database_url, results.server_ids)
    print(_summary("boot-to-ACTIVE (ledger events)", list(ledger.values())))
    rate = "boot/s (then deleted)" if mode.keep else "boot+delete/s"
    print(f"throughput: {done / elapsed:.1f} {rate} over {elapsed:.1f} s")
    cpu_at = results.cpu_at
    if mode.keep and {100, servers - 100, servers} <= set(cpu_at):
        print("first 100 boots, " + cpu.table(cpu_at[0], cpu_at[100], 100))
        print("last 100 boots, " + cpu.table(cpu_at[servers - 100], cpu_at[servers], 100))
    elif not mode.keep:
        print(cpu.table(cpu_at[0], cpu_at[-1], max(done, 1)))
    for error in results.errors[:5]:
        print(f"error: {error}")
    return 1 if results.errors else 0
