"""The operator's `cloudledger host-domains` and `image-cache` against the running stack."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from e2e.helpers import COMPUTE, Session, Stack, boot_body, wait_for_status, wait_until_gone

pytestmark = pytest.mark.e2e


def _host_domains(stack: Stack, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDLEDGER_REDIS_URL": stack.redis_url}
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "host-domains", host, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_host_domains_lists_the_running_server_of_that_host(
    stack: Stack, admin: Session, image_id: str
) -> None:
    response = admin.client.post(f"{COMPUTE}/servers", json=boot_body("ops-cli", image_id))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    host = wait_for_status(admin.client, server_id, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"]
    try:
        listed = _host_domains(stack, host)
        assert listed.returncode == 0, listed.stderr
        assert f"instance-{server_id}  running  1 vCPU  512 MiB" in listed.stdout
    finally:
        admin.client.delete(f"{COMPUTE}/servers/{server_id}")
        wait_until_gone(admin.client, server_id)
    assert f"instance-{server_id}" not in _host_domains(stack, host).stdout


def test_host_domains_of_an_unknown_host_says_nobody_answered(stack: Stack) -> None:
    listed = _host_domains(stack, "no-such-host", "--timeout", "0.5")
    assert listed.returncode == 1
    assert "no answer from the compute worker of no-such-host" in listed.stdout


def _image_cache(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLOUDLEDGER_REDIS_URL": stack.redis_url,
        "CLOUDLEDGER_DATABASE_URL": stack.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "image-cache", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_image_cache_lists_each_hosts_cached_images(
    stack: Stack, admin: Session, image_id: str
) -> None:
    response = admin.client.post(f"{COMPUTE}/servers", json=boot_body("cache-cli", image_id))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    host = wait_for_status(admin.client, server_id, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"]
    size = admin.client.get(f"/image/v2/images/{image_id}").json()["size"]
    try:
        listed = _image_cache(stack)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        # The host's section; other tests' images may be cached there too.
        mine = listed.stdout.split(f"{host}: ", 1)[1].split("\ncompute-", 1)[0]
        [line] = [row for row in mine.splitlines() if f"  {image_id}  " in row]
        assert f"  {image_id}  {size} bytes  last used " in line
        assert line.endswith("in use")
        assert all(f"{h}: " in listed.stdout for h in ("compute-1", "compute-2"))
    finally:
        admin.client.delete(f"{COMPUTE}/servers/{server_id}")
        wait_until_gone(admin.client, server_id)


def test_image_cache_of_an_unknown_host_says_nobody_answered(stack: Stack) -> None:
    listed = _image_cache(stack, "no-such-host", "--timeout", "0.5")
    assert listed.returncode == 1
    assert "no-such-host: no answer from its compute worker" in listed.stdout
