"""`cloudledger projections rebuild` against the whole running stack: the
API keeps listing servers through each swap, and writes made meanwhile
(whose requests wait until the projector has applied them) all show."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.helpers import COMPUTE, Stack, boot_body, login, running_stack, wait_for_status
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REBUILDS = 4


@pytest.fixture
def own_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    """A stack of this test's own (Redis database 10)."""
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/10"
    with running_stack(pg_cluster, template_database, redis_url, flush="db", hosts=1) as stack:
        yield stack


def _projections(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDLEDGER_DATABASE_URL": stack.database_url}
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "projections", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_api_lists_servers_through_rebuilds_and_shows_every_rename(
    own_stack: Stack,
) -> None:
    admin = login(own_stack, "admin", own_stack.admin_password, "admin")
    reader = login(own_stack, "admin", own_stack.admin_password, "admin")
    images = admin.client.get("/image/v2/images", params={"name": "tiny-qcow2"}).json()
    image_id = images["images"][0]["id"]
    ids = []
    for n in range(3):
        response = admin.client.post(f"{COMPUTE}/servers", json=boot_body(f"vm{n}", image_id))
        assert response.status_code == 202, response.text
        ids.append(response.json()["server"]["id"])
    for server_id in ids:
        wait_for_status(admin.client, server_id, {"ACTIVE"})

    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            response = reader.client.get(f"{COMPUTE}/servers")
            if response.status_code != 200 or len(response.json()["servers"]) != len(ids):
                problems.append(f"{response.status_code}: {response.text[:200]}")

    def rebuild() -> None:
        try:
            for _ in range(REBUILDS):
                result = _projections(own_stack, "rebuild", "servers")
                if result.returncode != 0:
                    problems.append(f"rebuild failed: {result.stderr[-500:]}")
        finally:
            done.set()

    threads = [threading.Thread(target=read), threading.Thread(target=rebuild)]
    for thread in threads:
        thread.start()
    renames = 0
    while not done.is_set():  # each rename answers once it is projected
        renamed = admin.client.put(
            f"{COMPUTE}/servers/{ids[renames % 3]}", json={"server": {"name": f"r{renames}"}}
        )
        assert renamed.status_code == 200, renamed.text
        renames += 1
    for thread in threads:
        thread.join()

    assert problems == []
    assert renames > REBUILDS
    for n, server_id in enumerate(ids):
        last = max(r for r in range(renames) if r % 3 == n) if renames > n else None
        shown = admin.client.get(f"{COMPUTE}/servers/{server_id}").json()["server"]["name"]
        assert shown == (f"r{last}" if last is not None else f"vm{n}")
    verified = _projections(own_stack, "verify", "servers")
    assert verified.returncode == 0, verified.stdout + verified.stderr
