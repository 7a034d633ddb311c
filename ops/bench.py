"""`cloudledger bench boot`: boot and delete servers through the HTTP API.

Each of C clients loops: POST a server, wait until it is ACTIVE, DELETE it,
wait until it is gone. Status comes from one shared poller listing
/servers/detail every 10 ms, so the client-side figure overstates by up to
one poll; the ledger figure is exact (Requested -> Spawned event timestamps)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg

from commands.bootstrap import Settings
from ops import cpu

POLL = 0.01
TIMEOUT = 120.0


@dataclass
class Results:
    boot_seconds: list[float] = field(default_factory=list)
    request_seconds: list[float] = field(default_factory=list)  # the POST alone
    server_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _token(client: httpx.AsyncClient, password: str) -> tuple[str, str]:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "password": password}},
            },
            "scope": {"project": {"name": "admin"}},
        }
    }
    resp = await client.post("/identity/v3/auth/tokens", json=body)
    resp.raise_for_status()
    return resp.headers["X-Subject-Token"], resp.json()["token"]["project"]["id"]


class StatusBoard:
    """One poller for all clients: lists servers every POLL seconds (as a
    dashboard would) and wakes the clients whose server changed, so 50 clients
    cost the API 100 list requests a second, not thousands of GETs."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.status: dict[str, str] = {}
        self.changed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            resp = await self.client.get("/compute/v2.1/servers/detail")
            if resp.status_code == 200:
                self.status = {s["id"]: s["status"] for s in resp.json()["servers"]}
                self.changed.set()
                self.changed = asyncio.Event()
            await asyncio.sleep(POLL)

    async def wait(self, server_id: str, done: Callable[[str | None], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done(self.status.get(server_id)):
            if time.monotonic() > deadline:
                raise TimeoutError(server_id)
            await self.changed.wait()


async def _client(
    client: httpx.AsyncClient,
    board: StatusBoard,
    todo: asyncio.Queue[int],
    results: Results,
    flavor: str,
    image: str,
) -> None:
    while True:
        try:
            n = todo.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.monotonic()
        spec = {"name": f"bench-{n}", "flavorRef": flavor, "imageRef": image, "networks": "none"}
        resp = await client.post("/compute/v2.1/servers", json={"server": spec})
        results.request_seconds.append(time.monotonic() - started)
        if resp.status_code != 202:
            results.errors.append(f"boot {resp.status_code}: {resp.text[:200]}")
            continue
        sid = resp.json()["server"]["id"]
        await board.wait(sid, lambda status: status in ("ACTIVE", "ERROR"))
        results.boot_seconds.append(time.monotonic() - started)
        results.server_ids.append(sid)
        await client.delete(f"/compute/v2.1/servers/{sid}")
        await board.wait(sid, lambda status: status is None)


async def _run(
    settings: Settings, servers: int, concurrency: int, flavor: str, image: str
) -> Results:
    results = Results()
    async with httpx.AsyncClient(base_url=settings.api_url, timeout=30) as client:
        token, project = await _token(client, settings.admin_password)
        client.headers["X-Auth-Token"] = token
        client.headers["OpenStack-API-Version"] = "compute 2.37"
        images = (await client.get("/image/v2/images", params={"name": image})).json()["images"]
        image_id = images[0]["id"]
        flavors = (await client.get("/compute/v2.1/flavors")).json()["flavors"]
        flavor_id = next(f["id"] for f in flavors if flavor in (f["name"], f["id"]))
        quota_url = f"/compute/v2.1/os-quota-sets/{project}"
        before = (await client.get(quota_url)).json()["quota_set"]
        unlimited = {"instances": -1, "cores": -1, "ram": -1}
        await client.put(quota_url, json={"quota_set": unlimited})
        todo: asyncio.Queue[int] = asyncio.Queue()
        for n in range(servers):
            todo.put_nowait(n)
        try:
            board, stop = StatusBoard(client), asyncio.Event()
            poller = asyncio.create_task(board.run(stop))
            clients = (
                _client(client, board, todo, results, flavor_id, image_id)
                for _ in range(concurrency)
            )
            await asyncio.gather(*clients)
            stop.set()
            await poller
        finally:
            restore = {k: before[k] for k in unlimited if k in before}
            await client.put(quota_url, json={"quota_set": restore})
    return results


def _ledger_boot_seconds(database_url: str, server_ids: list[str]) -> list[float]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM launched_at - created_at) FROM servers "
            "WHERE id = ANY(%s::uuid[]) AND launched_at IS NOT NULL",
            (server_ids,),
        ).fetchall()
    return [float(r[0]) for r in rows]


def _summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{label}: median {statistics.median(ordered) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )


def main_bench(settings: Settings, servers: int, concurrency: int, flavor: str, image: str) -> int:
    me = {os.getpid(): "bench"}
    cpu_before, started = cpu.snapshot(me), time.monotonic()
    results = asyncio.run(_run(settings, servers, concurrency, flavor, image))
    elapsed, cpu_after = time.monotonic() - started, cpu.snapshot(me)
    done = len(results.boot_seconds)
    print(f"servers: {done} booted and deleted of {servers}, concurrency {concurrency}")
    print(_summary("boot request answered (client)", results.request_seconds))
    print(_summary("boot-to-ACTIVE (client, polled)", results.boot_seconds))
    print(
        _summary(
            "boot-to-ACTIVE (ledger events)",
            _ledger_boot_seconds(settings.database_url, results.server_ids),
        )
    )
    print(f"boot+delete throughput: {done / elapsed:.1f}/s over {elapsed:.1f} s")
    print(cpu.table(cpu_before, cpu_after, max(done, 1)))
    for error in results.errors[:5]:
        print(f"error: {error}")
    return 1 if results.errors else 0
