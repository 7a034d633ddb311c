"""A compute host whose worker never beats: os-services shows it down once
the down time has passed, and the scheduler sends no boot there, however
much room it has (Nova's ComputeFilter on its servicegroup)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from commands.bootstrap import build_services
from commands.catalog import RegisterHost
from domain.values import SYSTEM
from e2e.helpers import Stack, running_stack, wait_for
from e2e.test_openstack_cli import as_json, ok, openstack
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

DOWN_TIME = {"CLOUDLEDGER_SERVICE_DOWN_TIME": "2"}
SILENT = "compute-silent"


@pytest.fixture(scope="module")
def quick_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/8"
    with running_stack(pg_cluster, template_database, redis_url, "db", DOWN_TIME, hosts=1) as stack:
        yield stack


def _compute_states(stack: Stack) -> dict[str, str]:
    listed = as_json(openstack(stack, "compute", "service", "list", "-f", "json"))
    return {s["Host"]: s["State"] for s in listed if s["Binary"] == "nova-compute"}


def test_a_host_that_never_beats_is_down_and_takes_no_boot(quick_stack: Stack) -> None:
    services = build_services(quick_stack.settings(), pool_size=1)
    try:
        # Far more RAM than the others: the spread weigher would pick it first.
        services.register_host(RegisterHost(SILENT, 64, 1 << 20, 4096), SYSTEM)
    finally:
        services.app.close()
    states = wait_for(
        lambda: (s := _compute_states(quick_stack)).get(SILENT) == "down" and s,
        20,
        "the silent host listed down",
    )
    assert set(states.values()) == {"up", "down"} and list(states.values()).count("down") == 1

    name = f"silent-{uuid.uuid4().hex[:8]}"
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2", "--nic", "none"]
    for n in range(2):
        server = as_json(openstack(quick_stack, *boot, "--wait", "-f", "json", f"{name}-{n}"))
        assert server["status"] == "ACTIVE"
        assert server["OS-EXT-SRV-ATTR:host"] != SILENT
    for n in range(2):
        ok(openstack(quick_stack, "server", "delete", "--wait", f"{name}-{n}"))
