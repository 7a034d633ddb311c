"""`cloudledger image-cache [HOST ...]`: what each compute host's image cache
holds (images, sizes, last use), asked of the host's own worker on its queue,
since only that worker sees the host's disks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from redis import Redis
from rq import Queue
from rq.job import Job

from commands.bootstrap import Settings
from workers import routes
from workers.jobs.image_cache import LIST_FUNC


def _hosts(settings: Settings) -> list[str]:
    with psycopg.connect(settings.database_url) as conn:
        return [str(name) for (name,) in conn.execute("SELECT name FROM hosts ORDER BY name")]


def _ask(redis: Redis, hosts: list[str], timeout: float) -> dict[str, Job]:
    # ttl: an unanswered question expires instead of waiting for a dead host.
    ttl = max(1, int(timeout))
    return {
        host: Queue(routes.COMPUTE.queue(host), connection=redis).enqueue_call(
            LIST_FUNC, result_ttl=60, ttl=ttl
        )
        for host in hosts
    }


def _lines(host: str, job: Job | None) -> list[str]:
    if job is None:
        return [f"{host}: no answer from its compute worker (is it running?)"]
    if job.get_status() is not None and job.get_status().value == "failed":
        return [f"{host}: its compute worker failed to answer"]
    entries: list[dict[str, Any]] = job.return_value() or []
    total = sum(int(e["size"]) for e in entries)
    lines = [f"{host}: {len(entries)} images, {total} bytes"]
    for e in entries:
        used = datetime.fromtimestamp(float(e["last_used"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        state = "in use" if e["in_use"] else "unused"
        lines.append(f"  {e['image_id']}  {e['size']} bytes  last used {used}  {state}")
    return lines


def print_image_cache(settings: Settings, hosts: list[str], timeout: float = 10.0) -> int:
    hosts = hosts or _hosts(settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        asked = _ask(redis, hosts, timeout)
        answered: dict[str, Job] = {}
        deadline = time.monotonic() + timeout
        while len(answered) < len(asked) and time.monotonic() < deadline:
            for host, job in asked.items():
                status = job.get_status(refresh=True)
                if status is not None and status.value in ("finished", "failed"):
                    answered[host] = job
            time.sleep(0.05)
    finally:
        redis.close()
    for host in hosts:
        print("\n".join(_lines(host, answered.get(host))))
    return 0 if len(answered) == len(hosts) else 1
