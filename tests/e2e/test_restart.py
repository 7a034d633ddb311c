"""A restarted `cloudledger run` still matches its ledger: the libvirt test
driver forgets its domains with its process, and each compute worker restores
them from the events when it starts (as Nova resumes guests after a reboot)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    domains_on,
    login,
    running_stack,
    servers_env,
    start_run,
    stop_process,
    wait_for_status,
    wait_until_up,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    """A stack of this test's own (Redis database 2), so restarting it disturbs
    no other test."""
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/2"
    with running_stack(pg_cluster, template_database, redis_url, flush="db", hosts=1) as stack:
        yield stack


def _restart(stack: Stack) -> Stack:
    """Stop every process of the stack, then start it again on the same
    database, Redis, state directory and port."""
    assert stop_process(stack.process) == []
    port = int(stack.url.rsplit(":", 1)[1])
    servers = servers_env(stack.database_url, stack.redis_url)
    process = start_run(servers, stack.state_dir, port, stack.admin_password)
    restarted = dataclasses.replace(stack, process=process)
    try:
        wait_until_up(restarted)
    except BaseException:
        stop_process(process)  # never leave a half-started stack behind
        raise
    return restarted


def _boot(admin: Session, name: str, image_id: str) -> tuple[str, str]:
    response = admin.client.post(f"{COMPUTE}/servers", json=boot_body(name, image_id))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    host = wait_for_status(admin.client, server_id, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"]
    return server_id, host


def test_a_restarted_stack_restores_running_and_stopped_domains(own_stack: Stack) -> None:
    admin = login(own_stack, "admin", own_stack.admin_password, "admin")
    images = admin.client.get("/image/v2/images", params={"name": "tiny-qcow2"}).json()
    image_id = images["images"][0]["id"]
    running_id, running_host = _boot(admin, "keeps-running", image_id)
    stopped_id, stopped_host = _boot(admin, "stays-stopped", image_id)
    stop = admin.client.post(f"{COMPUTE}/servers/{stopped_id}/action", json={"os-stop": None})
    assert stop.status_code == 202, stop.text
    wait_for_status(admin.client, stopped_id, {"SHUTOFF"})
    admin.client.close()

    restarted = _restart(own_stack)
    try:
        assert domains_on(restarted, running_host)[f"instance-{running_id}"]["running"] is True
        assert domains_on(restarted, stopped_host)[f"instance-{stopped_id}"]["running"] is False
        admin = login(restarted, "admin", restarted.admin_password, "admin")
        servers = admin.client.get(f"{COMPUTE}/servers/detail").json()["servers"]
        admin.client.close()
        assert {s["id"]: s["status"] for s in servers} == {
            running_id: "ACTIVE",
            stopped_id: "SHUTOFF",
        }
    finally:
        assert stop_process(restarted.process) == []
