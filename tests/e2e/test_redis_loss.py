"""An accepted command survives the loss of Redis: the relay owes its job in
PostgreSQL and re-enqueues it once Redis no longer has it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from e2e.helpers import (
    COMPUTE,
    Stack,
    boot_body,
    group_members,
    login,
    running_stack,
    wait_for,
    wait_for_status,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

# The relay reconciles every 2 s; the bound is 15 s.
RECOVERY_TIMEOUT = 15.0


@pytest.fixture
def own_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    """A stack of this test's own (Redis database 3): it flushes that Redis."""
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/3"
    with running_stack(pg_cluster, template_database, redis_url, flush="db", hosts=1) as stack:
        yield stack


def _scheduler_pids(stack: Stack) -> list[int]:
    """The stack's scheduler worker processes (RQ runs a helper beside it)."""
    pids = []
    for pid in group_members(stack.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"ops.cli worker scheduler" in cmdline:
            pids.append(pid)
    return pids


def _owed(stack: Stack) -> dict[str, str]:
    """Owed items and the batch job each went out in."""
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute("SELECT job_id, batch_id FROM relay_pending").fetchall()
    return {item: batch for item, batch in rows}


def test_a_boot_survives_a_flushed_redis(own_stack: Stack) -> None:
    admin = login(own_stack, "admin", own_stack.admin_password, "admin")
    image_id = admin.client.get("/image/v2/images", params={"name": "tiny-qcow2"}).json()["images"][
        0
    ]["id"]
    paused = _scheduler_pids(own_stack)
    assert paused
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)  # the job must still be waiting when Redis goes
    try:
        response = admin.client.post(f"{COMPUTE}/servers", json=boot_body("survivor", image_id))
        assert response.status_code == 202, response.text
        server_id = response.json()["server"]["id"]
        item = f"instance.schedule_{server_id}_1"
        wait_for(lambda: item in _owed(own_stack), timeout=10, what="the owed job")
        job_id = _owed(own_stack)[item]
        client = redis.Redis.from_url(own_stack.redis_url)
        wait_for(lambda: client.exists(f"rq:job:{job_id}"), timeout=10, what="the enqueue")
        client.flushdb()  # Redis loses the queue, the job and every registry
        client.close()
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)

    server = wait_for_status(admin.client, server_id, {"ACTIVE", "ERROR"}, RECOVERY_TIMEOUT)
    admin.client.close()
    assert server["status"] == "ACTIVE", server.get("fault")
