"""`cloudledger bench boot`: boot and delete servers through the HTTP API.

Each of C clients loops: POST a server, poll GET until ACTIVE, DELETE it,
poll until 404. Reports boot-to-ACTIVE as the client saw it (polling with
backoff from 2 ms, so it overstates by up to one poll interval) and as the
ledger recorded it (Requested -> Spawned event timestamps)."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from commands.bootstrap import Settings

POLL_START, POLL_MAX = 0.002, 0.05
TIMEOUT = 120.0


@dataclass
class Results:
    boot_seconds: list[float] = field(default_factory=list)
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


async def _poll(client: httpx.AsyncClient, url: str, done: Any) -> None:
    delay, deadline = POLL_START, time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        resp = await client.get(url)
        if done(resp):
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, POLL_MAX)
    raise TimeoutError(url)


def _status(resp: httpx.Response) -> str:
    return str(resp.json()["server"]["status"]) if resp.status_code == 200 else ""


async def _client(
    client: httpx.AsyncClient, todo: asyncio.Queue[int], results: Results, flavor: str, image: str
) -> None:
    while True:
        try:
            n = todo.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.monotonic()
        body = {"server": {"name": f"bench-{n}", "flavorRef": flavor, "imageRef": image}}
        resp = await client.post("/compute/v2.1/servers", json={**body, "networks": "none"})
        if resp.status_code != 202:
            results.errors.append(f"boot {resp.status_code}: {resp.text[:200]}")
            continue
        sid = resp.json()["server"]["id"]
        url = f"/compute/v2.1/servers/{sid}"
        await _poll(client, url, lambda r: _status(r) in ("ACTIVE", "ERROR"))
        results.boot_seconds.append(time.monotonic() - started)
        results.server_ids.append(sid)
        await client.delete(url)
        await _poll(client, url, lambda r: r.status_code == 404)


async def _run(
    settings: Settings, servers: int, concurrency: int, flavor: str, image: str
) -> Results:
    results = Results()
    async with httpx.AsyncClient(base_url=settings.api_url, timeout=30) as client:
        token, project = await _token(client, settings.admin_password)
        client.headers["X-Auth-Token"] = token
        client.headers["OpenStack-API-Version"] = "compute 2.37"
        image_id = (await client.get("/image/v2/images", params={"name": image})).json()["images"][
            0
        ]["id"]
        quota_url = f"/compute/v2.1/os-quota-sets/{project}"
        before = (await client.get(quota_url)).json()["quota_set"]
        unlimited = {"instances": -1, "cores": -1, "ram": -1}
        await client.put(quota_url, json={"quota_set": unlimited})
        todo: asyncio.Queue[int] = asyncio.Queue()
        for n in range(servers):
            todo.put_nowait(n)
        try:
            await asyncio.gather(
                *(_client(client, todo, results, flavor, image_id) for _ in range(concurrency))
            )
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
    started = time.monotonic()
    results = asyncio.run(_run(settings, servers, concurrency, flavor, image))
    elapsed = time.monotonic() - started
    done = len(results.boot_seconds)
    print(f"servers: {done} booted and deleted of {servers}, concurrency {concurrency}")
    print(_summary("boot-to-ACTIVE (client, polled)", results.boot_seconds))
    print(
        _summary(
            "boot-to-ACTIVE (ledger events)",
            _ledger_boot_seconds(settings.database_url, results.server_ids),
        )
    )
    print(f"boot+delete throughput: {done / elapsed:.1f}/s over {elapsed:.1f} s")
    for error in results.errors[:5]:
        print(f"error: {error}")
    return 1 if results.errors else 0
