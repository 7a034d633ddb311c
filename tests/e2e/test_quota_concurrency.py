"""Many parallel boots against a small quota: the Quota aggregate admits exactly
as many as the limit, and neither the quota nor any host is overcommitted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest

from commands.bootstrap import build_app
from domain.host import ComputeHost
from domain.quota import Quota
from e2e.helpers import (
    COMPUTE,
    HOSTS,
    Session,
    Stack,
    boot_body,
    hosts_table,
    quota_usage,
    wait_for_status,
    wait_until_gone,
)

pytestmark = pytest.mark.e2e

LIMIT, REQUESTS = 5, 40


def test_parallel_boots_over_quota_admit_exactly_the_limit(
    stack: Stack, admin: Session, member_session: Session, image_id: str
) -> None:
    project_id = member_session.project_id
    response = admin.client.put(
        f"{COMPUTE}/os-quota-sets/{project_id}", json={"quota_set": {"instances": LIMIT}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["quota_set"]["instances"] == LIMIT

    headers = dict(member_session.client.headers)
    start = Barrier(REQUESTS)
    connections = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    with httpx.Client(
        base_url=stack.url, headers=headers, timeout=60, limits=connections
    ) as client:

        def boot(n: int) -> httpx.Response:
            start.wait(timeout=30)  # all 40 requests leave together
            return client.post(f"{COMPUTE}/servers", json=boot_body(f"racer-{n}", image_id))

        with ThreadPoolExecutor(REQUESTS) as threads:
            responses = list(threads.map(boot, range(REQUESTS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * LIMIT + [403] * (REQUESTS - LIMIT), [
        (r.status_code, r.text) for r in responses if r.status_code not in (202, 403)
    ]
    for rejected in (r for r in responses if r.status_code == 403):
        assert "Quota exceeded for instances" in rejected.json()["forbidden"]["message"]
    server_ids = [r.json()["server"]["id"] for r in responses if r.status_code == 202]

    try:
        assert quota_usage(admin, project_id)["instances"] == LIMIT
        for server_id in server_ids:
            server = wait_for_status(admin.client, server_id, {"ACTIVE", "ERROR"})
            assert server["status"] == "ACTIVE", server.get("fault")
        app = build_app(stack.database_url, pool_size=1)
        try:
            quota: Quota = app.repository.get(Quota.create_id(project_id))
            assert quota.in_use["instances"] == LIMIT
            assert sorted(quota.allocations) == sorted(server_ids)
            for name in HOSTS:
                host: ComputeHost = app.repository.get(ComputeHost.create_id(name))
                used, limits = host.used, host.limits
                assert used.vcpus <= limits.vcpus
                assert used.ram_mb <= limits.ram_mb
                assert used.disk_gb <= limits.disk_gb
        finally:
            app.close()
        for name, row in hosts_table(stack).items():
            assert row["vcpus_used"] <= row["vcpus"] * row["cpu_ratio"], name
            assert row["ram_mb_used"] <= row["ram_mb"] * row["ram_ratio"], name
            assert row["disk_gb_used"] <= row["disk_gb"] * row["disk_ratio"], name
    finally:
        for server_id in server_ids:
            member_session.client.delete(f"{COMPUTE}/servers/{server_id}")
        for server_id in server_ids:
            wait_until_gone(member_session.client, server_id)
    assert quota_usage(admin, project_id)["instances"] == 0
