"""An address is held by exactly one port or floating IP, under any
concurrency (issue 21): a thousand concurrent floating IP creates against a
/22 whose pool is smaller than that, over HTTP and at once from a second
process's command side on the same ledger. Each address is handed out
once, the rest are refused with 409 IpAddressGenerationFailure, and the
quota's usage is exactly what was handed out."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from integration.helpers import rows
from integration.network_rig import NET, Rig, running_rig

from commands.bootstrap import build_app
from commands.network_floating_ips import FloatingIpSpec
from commands.network_services import Made, NetworkCommands
from domain.quota import Quota
from domain.subnet import Subnet
from domain.values import Actor
from ops.postgres import PrivateCluster

POOL_START, POOL_END = "10.22.0.10", "10.22.3.200"  # 959 addresses of the /22
POOL_SIZE = int(ipaddress.ip_address(POOL_END)) - int(ipaddress.ip_address(POOL_START)) + 1
OVER_HTTP, FROM_ANOTHER_PROCESS = 700, 300


@pytest.fixture
def rig(pg_cluster: PrivateCluster, template_database: str, tmp_path: Path) -> Any:
    with running_rig(pg_cluster, template_database, str(tmp_path)) as rig:
        yield rig


def _big_external_network(rig: Rig) -> tuple[str, str]:
    body = {"network": {"name": "big", "router:external": True}}
    network = rig.ok("admin", "POST", f"{NET}/networks", json=body)["network"]
    subnet = {
        "network_id": network["id"],
        "cidr": "10.22.0.0/22",
        "ip_version": 4,
        "enable_dhcp": False,
        "allocation_pools": [{"start": POOL_START, "end": POOL_END}],
    }
    made = rig.ok("admin", "POST", f"{NET}/subnets", json={"subnet": subnet})["subnet"]
    return network["id"], made["id"]


async def _create_all(rig: Rig, network_id: str, n: int) -> list[httpx.Response]:
    headers = {"X-Auth-Token": rig.tokens["alice"]}
    body = {"floatingip": {"floating_network_id": network_id}}
    calls = [rig.client.post(f"{NET}/floatingips", json=body, headers=headers) for _ in range(n)]
    return list(await asyncio.gather(*calls))


def _from_another_process(
    rig: Rig, network_id: str, actor: Actor, out: list[Made | BaseException]
) -> None:
    """A second API process: its own CloudApp and pool on the same ledger,
    creating in small batches while the HTTP requests run."""
    app = build_app(rig.url, pool_size=2)
    try:
        commands = NetworkCommands(app)
        spec = FloatingIpSpec(network_id)
        for _ in range(FROM_ANOTHER_PROCESS // 10):
            out.extend(commands.create_floating_ips([(spec, actor)] * 10))
    finally:
        app.close()


def test_a_thousand_concurrent_floating_ip_creates_hand_out_each_address_once(rig: Rig) -> None:
    network_id, subnet_id = _big_external_network(rig)
    project = rig.projects["proj-a"]
    rig.ok("admin", "PUT", f"{NET}/quotas/{project}", json={"quota": {"floatingip": -1}})
    alice = Actor("alice-cmd", project, ("member",), "req-other-process")
    other: list[Made | BaseException] = []
    racing = threading.Thread(target=_from_another_process, args=(rig, network_id, alice, other))

    racing.start()
    answers = rig.loop.run(_create_all(rig, network_id, OVER_HTTP))
    racing.join()

    made = [r.json()["floatingip"]["floating_ip_address"] for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert {r.status_code for r in refused} <= {409}
    assert {r.json()["NeutronError"]["type"] for r in refused} <= {"IpAddressGenerationFailure"}
    other_made = [m for m in other if isinstance(m, Made)]
    assert all("No more IP addresses" in str(e) for e in other if not isinstance(e, Made))
    assert other_made and refused  # both raced, and the pool ran out under them
    assert len(made) + len(other_made) == POOL_SIZE  # exactly the pool, not one more

    held = rows(
        rig.url,
        "SELECT doc->>'floating_ip_address' AS address FROM net_floating_ips"
        " WHERE doc->>'floating_network_id' = %s",
        (network_id,),
    )
    addresses = [r["address"] for r in held]
    assert len(addresses) == POOL_SIZE
    assert Counter(addresses).most_common(1)[0][1] == 1  # no address twice
    start, end = int(ipaddress.ip_address(POOL_START)), int(ipaddress.ip_address(POOL_END))
    assert {int(ipaddress.ip_address(a)) for a in addresses} == set(range(start, end + 1))
    assert set(made) <= set(addresses)

    app = rig.state.services.app
    subnet: Subnet = app.repository.get(UUID(subnet_id))
    assert len(subnet.allocations) == POOL_SIZE
    quota: Quota = app.repository.get(Quota.create_id(project))
    assert quota.in_use["floatingip"] == POOL_SIZE
    shown = rig.ok("alice", "GET", f"{NET}/quotas/{project}/details")["quota"]["floatingip"]
    assert shown["used"] == POOL_SIZE


def test_a_refused_create_appends_nothing(rig: Rig) -> None:
    network_id, _ = _big_external_network(rig)
    project = rig.projects["proj-a"]
    rig.ok("admin", "PUT", f"{NET}/quotas/{project}", json={"quota": {"floatingip": 1}})
    body = {"floatingip": {"floating_network_id": network_id}}
    rig.ok("alice", "POST", f"{NET}/floatingips", json=body)
    before = rows(rig.url, "SELECT max(notification_id) AS n FROM cloudledger_events")[0]["n"]

    over = rig.call("alice", "POST", f"{NET}/floatingips", json=body)

    assert over.status_code == 409, over.text
    assert over.json()["NeutronError"]["type"] == "OverQuota"
    after = rows(rig.url, "SELECT max(notification_id) AS n FROM cloudledger_events")[0]["n"]
    assert after == before
