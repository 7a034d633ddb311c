"""The unmodified `openstack` client against the stack, as a user would run it."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.helpers import Stack, auth_body, wait_for

pytestmark = pytest.mark.e2e

OPENSTACK = Path(sys.executable).with_name("openstack")
CLI_TIMEOUT = 60


def openstack(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OS_CLIENT_CONFIG_FILE": str(stack.state_dir / "clouds.yaml"),
        "OS_CLOUD": "cloudledger",
        # Nothing from the calling shell may point the client elsewhere.
        "NO_PROXY": "127.0.0.1",
    }
    for name in list(env):
        if name.startswith("OS_") and name not in {"OS_CLIENT_CONFIG_FILE", "OS_CLOUD"}:
            del env[name]
    return subprocess.run(
        [str(OPENSTACK), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def clouds_yaml_for(stack: Stack, tmp_path: Path, user: str, password: str, project: str) -> Path:
    """A clouds.yaml in ``tmp_path`` for another user (run the CLI with a
    Stack whose state_dir is ``tmp_path``)."""
    text = (stack.state_dir / "clouds.yaml").read_text()
    for key, value in (("username", user), ("password", password), ("project_name", project)):
        text = re.sub(rf"(      {key}: ).*", rf"\g<1>{value}", text)
    path = tmp_path / "clouds.yaml"
    path.write_text(text)
    return path


def status_of(stack: Stack, server: str) -> str:
    """The status of a server (by name or id) as the CLI's user sees it."""
    listed = api_get(stack, "compute", "/servers/detail")["servers"]
    found = [s for s in listed if server in (s["id"], s["name"])]
    assert len(found) == 1, f"{len(found)} servers named {server}"
    return str(found[0]["status"])


def api_get(stack: Stack, service: str, path: str) -> Any:
    """GET ``path`` of a service (a catalog type) as the user of the stack's
    clouds.yaml, over HTTP: the tests' waits poll this, since a poll of the
    CLI costs a Python start per look (the CLI's own `show` commands are
    tested where they are the subject)."""
    clouds_yaml = stack.state_dir / "clouds.yaml"
    http, catalog = _session(clouds_yaml)
    answer = http.get(f"{catalog[service]}{path}")
    if answer.status_code == 401:  # the token outlived its stack (a restart)
        _session.cache_clear()
        http, catalog = _session(clouds_yaml)
        answer = http.get(f"{catalog[service]}{path}")
    assert answer.status_code == 200, answer.text
    return answer.json()


@functools.cache
def _session(clouds_yaml: Path) -> tuple[httpx.Client, dict[str, str]]:
    """A client holding a token of the clouds.yaml's user, and the public
    URL of each service in its catalog, by type."""
    auth = dict(re.findall(r"^      (\w+): (.*)$", clouds_yaml.read_text(), re.MULTILINE))
    domains = (auth["user_domain_name"], auth["project_domain_name"])
    assert domains == ("Default", "Default"), f"auth_body speaks for Default only: {domains}"
    body = auth_body(auth["username"], auth["password"], auth["project_name"])
    made = httpx.post(f"{auth['auth_url']}/auth/tokens", json=body, timeout=30)
    assert made.status_code == 201, made.text
    catalog = {
        entry["type"]: next(e["url"] for e in entry["endpoints"] if e["interface"] == "public")
        for entry in made.json()["token"]["catalog"]
    }
    http = httpx.Client(headers={"X-Auth-Token": made.headers["X-Subject-Token"]}, timeout=30)
    return http, catalog


def test_openstack_cli_runs_a_server_through_its_life(stack: Stack, tmp_path: Path) -> None:
    token = as_json(openstack(stack, "token", "issue", "-f", "json"))
    assert token["id"] and token["project_id"] and token["user_id"]

    flavors = ok(openstack(stack, "flavor", "list"))
    for name in ("m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"):
        assert name in flavors

    disk = tmp_path / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    image = as_json(
        openstack(
            stack,
            "image",
            "create",
            "--file",
            str(disk),
            "--disk-format",
            "qcow2",
            "-f",
            "json",
            "myimg",
        )
    )
    assert image["name"] == "myimg"
    assert image["status"] == "active"
    images = ok(openstack(stack, "image", "list"))
    assert "myimg" in images
    assert "tiny-qcow2" in images

    server = as_json(
        openstack(
            stack,
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "myimg",
            "--nic",
            "none",
            "--wait",
            "-f",
            "json",
            "vm1",
        )
    )
    assert server["name"] == "vm1"
    assert server["status"] == "ACTIVE"
    listed = {s["Name"]: s for s in as_json(openstack(stack, "server", "list", "-f", "json"))}
    assert listed["vm1"]["Status"] == "ACTIVE"
    assert listed["vm1"]["Image"] == "myimg"
    assert listed["vm1"]["Flavor"] == "m1.tiny"

    ok(openstack(stack, "server", "stop", "vm1"))
    wait_for(lambda: status_of(stack, "vm1") == "SHUTOFF", 30, "vm1 to be SHUTOFF", 0.2)
    ok(openstack(stack, "server", "start", "vm1"))
    wait_for(lambda: status_of(stack, "vm1") == "ACTIVE", 30, "vm1 to be ACTIVE", 0.2)

    ok(openstack(stack, "server", "delete", "--wait", "vm1"))
    assert "vm1" not in ok(openstack(stack, "server", "list"))
    missing = openstack(stack, "server", "show", "vm1")
    assert missing.returncode != 0
    assert "vm1" in missing.stderr
