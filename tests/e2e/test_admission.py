"""Admission control: while too many instance operations are unfinished, in
all or in one project, a boot gets 429 with Retry-After and appends nothing;
reads and deletes still work, and boots are accepted again once work drains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from e2e.helpers import (
    COMPUTE,
    REPO,
    Session,
    Stack,
    boot_body,
    children,
    create_member,
    last_notification_id,
    login,
    running_stack,
    wait_for_status,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

BOUNDS = {"CLOUDLEDGER_MAX_IN_FLIGHT": "3", "CLOUDLEDGER_MAX_PROJECT_IN_FLIGHT": "2"}
CACHE_SECONDS = 0.15  # the API reads the count at most every 0.1 s


@pytest.fixture(scope="module")
def bounded(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/4"
    with running_stack(pg_cluster, template_database, redis_url, "db", BOUNDS, hosts=1) as stack:
        yield stack


def _member(stack: Stack) -> Session:
    member = create_member(stack, "bounded")
    return login(stack, member.user, member.password, member.project)


def _image(session: Session) -> str:
    images = session.client.get("/image/v2/images", params={"name": "tiny-qcow2"})
    return str(images.json()["images"][0]["id"])


def _boot(session: Session, name: str, image_id: str) -> httpx.Response:
    time.sleep(CACHE_SECONDS)
    return session.client.post(f"{COMPUTE}/servers", json=boot_body(name, image_id))


def test_boots_over_the_bounds_get_429_and_the_rest_keeps_working(bounded: Stack) -> None:
    alpha, beta = _member(bounded), _member(bounded)
    image_id = _image(alpha)
    scheduler = children(bounded.process.pid, b"ops.cli worker scheduler")
    for pid in scheduler:
        os.kill(pid, signal.SIGSTOP)  # accepted boots stay in flight
    try:
        a1, a2 = (_boot(alpha, f"a{n}", image_id) for n in (1, 2))
        assert (a1.status_code, a2.status_code) == (202, 202)
        before = last_notification_id(bounded)

        refused = _boot(alpha, "a3", image_id)  # the project's bound of 2
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["overLimit"]["code"] == 429
        assert "This project" in refused.json()["overLimit"]["message"]
        assert last_notification_id(bounded) == before

        assert _boot(beta, "b1", image_id).status_code == 202  # 3 in all now
        overall = _boot(beta, "b2", image_id)
        assert overall.status_code == 429, overall.text
        assert "The cloud" in overall.json()["overLimit"]["message"]

        assert alpha.client.get(f"{COMPUTE}/servers/detail").status_code == 200
        first = a1.json()["server"]["id"]
        assert alpha.client.delete(f"{COMPUTE}/servers/{first}").status_code == 204
        assert _boot(alpha, "a4", image_id).status_code == 202  # room again
        status = subprocess.run(
            [sys.executable, "-m", "ops.cli", "status"],
            env={**os.environ, **_stack_env(bounded)},
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "in flight: 3 instance operations" in status
        assert "from 3 in all or 2 in one project" in status
    finally:
        for pid in scheduler:
            os.kill(pid, signal.SIGCONT)

    for session in (alpha, beta):
        for server in session.client.get(f"{COMPUTE}/servers").json()["servers"]:
            assert wait_for_status(session.client, server["id"], {"ACTIVE"})["status"] == "ACTIVE"
    assert _boot(beta, "b3", image_id).status_code == 202  # drained: accepted again


def _stack_env(stack: Stack) -> dict[str, str]:
    return {
        "CLOUDLEDGER_DATABASE_URL": stack.database_url,
        "CLOUDLEDGER_REDIS_URL": stack.redis_url,
        **BOUNDS,
    }
