"""A server's whole life over HTTP, checked against the hypervisor, the disks,
the quota and the host capacity it used."""

from __future__ import annotations

import uuid

import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    disk_dir,
    domains_on,
    host_usage,
    quota_usage,
    wait_for,
    wait_for_status,
    wait_until_gone,
)

pytestmark = pytest.mark.e2e


def test_boot_stop_start_delete_leaves_nothing_behind(
    stack: Stack, admin: Session, image_id: str
) -> None:
    client = admin.client
    usage_before = quota_usage(admin, admin.project_id)
    hosts_before = host_usage(stack)

    response = client.post(f"{COMPUTE}/servers", json=boot_body("lifecycle", image_id))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    shown = client.get(f"{COMPUTE}/servers/{server_id}")  # read-your-writes
    assert shown.status_code == 200, shown.text
    assert shown.json()["server"]["name"] == "lifecycle"

    server = wait_for_status(client, server_id, {"ACTIVE", "ERROR"})
    assert server["status"] == "ACTIVE", server.get("fault")
    host = server["OS-EXT-SRV-ATTR:host"]
    assert host in hosts_before
    domain = domains_on(stack, host)[f"instance-{server_id}"]
    assert domain["running"] is True
    assert domain["uuid"] == server_id
    assert disk_dir(stack, host, server_id).is_dir()
    assert quota_usage(admin, admin.project_id) == {
        "instances": usage_before["instances"] + 1,
        "cores": usage_before["cores"] + 1,
        "ram": usage_before["ram"] + 512,
    }

    response = client.post(f"{COMPUTE}/servers/{server_id}/action", json={"os-stop": None})
    assert response.status_code == 202, response.text
    assert wait_for_status(client, server_id, {"SHUTOFF"})["OS-EXT-STS:power_state"] == 4
    assert domains_on(stack, host)[f"instance-{server_id}"]["running"] is False

    response = client.post(f"{COMPUTE}/servers/{server_id}/action", json={"os-start": None})
    assert response.status_code == 202, response.text
    assert wait_for_status(client, server_id, {"ACTIVE"})["OS-EXT-STS:power_state"] == 1
    assert domains_on(stack, host)[f"instance-{server_id}"]["running"] is True

    response = client.delete(f"{COMPUTE}/servers/{server_id}")
    assert response.status_code == 204, response.text
    wait_until_gone(client, server_id)
    missing = client.get(f"{COMPUTE}/servers/{server_id}")
    assert missing.json()["itemNotFound"]["code"] == 404
    listed = client.get(f"{COMPUTE}/servers").json()["servers"]
    assert server_id not in {s["id"] for s in listed}
    assert f"instance-{server_id}" not in domains_on(stack, host)
    assert not disk_dir(stack, host, server_id).exists()
    assert quota_usage(admin, admin.project_id) == usage_before
    wait_for(lambda: host_usage(stack) == hosts_before, 5, "host capacity to be released")


def test_boot_with_a_flavor_no_host_can_fit_ends_in_error(
    stack: Stack, admin: Session, image_id: str
) -> None:
    client = admin.client
    flavor_id = f"huge-{uuid.uuid4().hex[:8]}"
    response = client.post(
        f"{COMPUTE}/flavors",
        json={"flavor": {"name": flavor_id, "id": flavor_id, "vcpus": 4096, "ram": 512, "disk": 1}},
    )
    assert response.status_code == 200, response.text
    usage_before = quota_usage(admin, admin.project_id)
    # Admin's default quota (20 cores) would reject 4096 vCPUs before scheduling.
    response = client.put(
        f"{COMPUTE}/os-quota-sets/{admin.project_id}", json={"quota_set": {"cores": -1}}
    )
    assert response.status_code == 200, response.text
    hosts_before = host_usage(stack)
    try:
        response = client.post(f"{COMPUTE}/servers", json=boot_body("too-big", image_id, flavor_id))
        assert response.status_code == 202, response.text
        server_id = response.json()["server"]["id"]

        server = wait_for_status(client, server_id, {"ERROR", "ACTIVE"})
        assert server["status"] == "ERROR"
        assert server["fault"]["message"].startswith("No valid host was found")
        assert quota_usage(admin, admin.project_id) == usage_before
        assert host_usage(stack) == hosts_before

        response = client.delete(f"{COMPUTE}/servers/{server_id}")
        assert response.status_code == 204, response.text
        wait_until_gone(client, server_id)
    finally:
        client.put(f"{COMPUTE}/os-quota-sets/{admin.project_id}", json={"quota_set": {"cores": 20}})
        client.delete(f"{COMPUTE}/flavors/{flavor_id}")


def test_delete_right_after_boot_leaves_nothing_behind(
    stack: Stack, admin: Session, image_id: str
) -> None:
    client = admin.client
    usage_before = quota_usage(admin, admin.project_id)
    hosts_before = host_usage(stack)
    server_ids = []
    for n in range(4):  # deletes land while scheduling, spawning, or just after
        response = client.post(f"{COMPUTE}/servers", json=boot_body(f"short-{n}", image_id))
        assert response.status_code == 202, response.text
        server_ids.append(response.json()["server"]["id"])
        response = client.delete(f"{COMPUTE}/servers/{server_ids[-1]}")
        assert response.status_code == 204, response.text

    for server_id in server_ids:
        wait_until_gone(client, server_id)
    assert quota_usage(admin, admin.project_id) == usage_before
    wait_for(lambda: host_usage(stack) == hosts_before, 5, "host capacity to be released")
    for host in hosts_before:
        domains = domains_on(stack, host)
        for server_id in server_ids:
            assert f"instance-{server_id}" not in domains
            assert not disk_dir(stack, host, server_id).exists()
