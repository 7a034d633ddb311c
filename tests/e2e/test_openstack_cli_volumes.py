"""Volumes with the unmodified `openstack` client against the whole stack
(`cloudledger run`: the volume worker on a supervised tgtd, compute workers
on libvirt's test driver): made blank and from an image, attached as vdc
and detached, grown, snapshotted and restored, booted from, deleted; the
quota and limits as `quota set` and `limits show` see them; and the CHAP
secrets in no event, log line or API answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from e2e.helpers import Stack, create_member, wait_for
from e2e.test_openstack_cli import api_get, as_json, clouds_yaml_for, ok, openstack
from workers.drivers.chap import chap_for

pytestmark = pytest.mark.e2e
WAIT = 30.0


@dataclass(frozen=True)
class Tenant:
    stack: Stack  # with a state_dir holding the member's clouds.yaml
    project: str  # its name

    def cli(self, *args: str) -> Any:
        return openstack(self.stack, *args)

    def json(self, *args: str) -> Any:
        return as_json(self.cli(*args, "-f", "json"))

    def volume(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.json("volume", "show", name)
        return found

    def wait_volume(self, name: str, status: str) -> dict[str, Any]:
        """The volume, as the API shows it, once its status is ``status``
        (polled over HTTP: a CLI start per look cost the most here)."""

        def check() -> dict[str, Any] | None:
            listed = api_get(self.stack, "volumev3", "/volumes/detail")["volumes"]
            (found,) = [v for v in listed if v["name"] == name]
            assert found["status"] not in ("error", "error_deleting", "error_extending"), found
            return found if found["status"] == status else None

        found: dict[str, Any] = wait_for(check, WAIT, f"volume {name} {status}")
        return found


@pytest.fixture
def tenant(stack: Stack, tmp_path: Path) -> Iterator[Tenant]:
    member = create_member(stack, "vol")
    clouds_yaml_for(stack, tmp_path, member.user, member.password, member.project)
    yield Tenant(replace(stack, state_dir=tmp_path), member.project)


def test_volumes_through_their_life_with_the_cli(tenant: Tenant) -> None:
    created = tenant.json("volume", "create", "--size", "1", "data")
    assert created["status"] == "creating"
    tenant.wait_volume("data", "available")
    tenant.json("volume", "create", "--size", "1", "--image", "tiny-qcow2", "from-image")
    assert tenant.wait_volume("from-image", "available")["bootable"] in ("true", True)
    listed = {v["Name"]: v for v in tenant.json("volume", "list")}
    assert {"data", "from-image"} <= set(listed)
    assert listed["data"]["Size"] == 1

    ok(tenant.cli("server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2",
                  "--nic", "none", "--wait", "vm"))  # fmt: skip
    ok(tenant.cli("server", "add", "volume", "vm", "data"))
    attached = tenant.wait_volume("data", "in-use")
    (attachment,) = attached["attachments"]
    assert attachment["device"] == "/dev/vdc"
    server = tenant.json("server", "show", "vm")
    volumes = server.get("volumes_attached") or server.get("os-extended-volumes:volumes_attached")
    assert attached["id"] in str(volumes)
    ok(tenant.cli("server", "remove", "volume", "vm", "data"))
    tenant.wait_volume("data", "available")

    ok(tenant.cli("volume", "set", "--size", "2", "data"))
    wait_for(lambda: tenant.volume("data")["size"] == 2, WAIT, "volume data grown to 2")
    tenant.wait_volume("data", "available")

    ok(tenant.cli("volume", "snapshot", "create", "--volume", "data", "snap"))
    wait_for(
        lambda: tenant.json("volume", "snapshot", "show", "snap")["status"] == "available",
        WAIT,
        "snapshot available",
    )
    ok(tenant.cli("volume", "create", "--snapshot", "snap", "--size", "2", "restored"))
    tenant.wait_volume("restored", "available")

    ok(tenant.cli("server", "create", "--flavor", "m1.tiny", "--volume", "from-image",
                  "--nic", "none", "--wait", "bfv"))  # fmt: skip
    root = tenant.wait_volume("from-image", "in-use")
    assert root["attachments"][0]["device"] == "/dev/vda"

    ok(tenant.cli("server", "delete", "--wait", "bfv"))
    tenant.wait_volume("from-image", "available")  # kept: not delete_on_termination
    ok(tenant.cli("volume", "delete", "restored"))
    wait_for(
        lambda: "restored" not in {v["Name"] for v in tenant.json("volume", "list")},
        WAIT,
        "volume restored gone",
    )
    ok(tenant.cli("volume", "snapshot", "delete", "snap"))
    ok(tenant.cli("server", "delete", "--wait", "vm"))


def test_quota_set_and_limits_show_with_the_cli(stack: Stack, tenant: Tenant) -> None:
    ok(openstack(stack, "quota", "set", "--volumes", "3", tenant.project))
    for n in range(3):
        ok(tenant.cli("volume", "create", "--size", "1", f"q{n}"))
    refused = tenant.cli("volume", "create", "--size", "1", "q3")
    assert refused.returncode != 0
    assert "413" in refused.stderr or "exceeded" in refused.stderr.lower(), refused.stderr
    limits = {r["Name"]: r["Value"] for r in tenant.json("limits", "show", "--absolute")}
    assert limits["max_total_volumes"] == 3
    assert limits["total_volumes_used"] == 3
    quota = {r["Resource"]: r["Limit"] for r in tenant.json("quota", "show")}
    assert quota["volumes"] == 3


def test_the_volume_service_and_zone_are_listed(stack: Stack) -> None:
    services = as_json(openstack(stack, "volume", "service", "list", "-f", "json"))
    assert [(s["Binary"], s["State"]) for s in services] == [("cinder-volume", "up")]
    zones = as_json(openstack(stack, "availability", "zone", "list", "--volume", "-f", "json"))
    assert [(z["Zone Name"], z["Zone Status"]) for z in zones] == [("nova", "available")]


def test_no_chap_secret_in_the_ledger_the_logs_or_the_api(tenant: Tenant, stack: Stack) -> None:
    """Volumes made, attached and detached: none of their CHAP secrets (derived
    from the storage key) is in any stored event, log file or API answer."""
    name = f"secret-{uuid.uuid4().hex[:6]}"
    ok(tenant.cli("volume", "create", "--size", "1", name))
    volume = tenant.wait_volume(name, "available")
    ok(tenant.cli("server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2",
                  "--nic", "none", "--wait", f"{name}-vm"))  # fmt: skip
    ok(tenant.cli("server", "add", "volume", f"{name}-vm", name))
    answers = [str(tenant.wait_volume(name, "in-use"))]
    answers.append(ok(tenant.cli("server", "show", f"{name}-vm", "-f", "json")))
    answers.append(ok(tenant.cli("volume", "list", "--long", "-f", "json")))
    ok(tenant.cli("server", "remove", "volume", f"{name}-vm", name))
    tenant.wait_volume(name, "available")
    key = (stack.state_dir / "storage.key").read_text().strip()
    secrets = {chap_for(bytes.fromhex(key), v["ID"]).secret for v in tenant.json("volume", "list")}
    assert chap_for(bytes.fromhex(key), volume["id"]).secret in secrets
    with psycopg.connect(stack.database_url) as conn:
        stored = [bytes(r[0]) for r in conn.execute("SELECT state FROM cloudledger_events")]
    logs = [p.read_bytes() for p in (stack.state_dir / "logs").glob("*.log")]
    for secret in secrets:
        assert not any(secret.encode() in state for state in stored), "a secret in the ledger"
        assert not any(secret.encode() in log for log in logs), "a secret in a log"
        assert not any(secret in answer for answer in answers), "a secret in an API answer"
    ok(tenant.cli("server", "delete", "--wait", f"{name}-vm"))


def test_a_volume_is_uploaded_to_an_image_with_the_cli(tenant: Tenant, stack: Stack) -> None:
    name = f"up-{uuid.uuid4().hex[:6]}"
    ok(tenant.cli("volume", "create", "--size", "1", name))
    tenant.wait_volume(name, "available")
    ok(tenant.cli("image", "create", "--volume", name, "--disk-format", "raw", f"{name}-image"))
    try:
        wait_for(
            lambda: tenant.json("image", "show", f"{name}-image")["status"] == "active",
            WAIT,
            "the image active",
        )
    except pytest.fail.Exception:
        raise AssertionError(stack.logs_tail(60)) from None
    tenant.wait_volume(name, "available")
    image = tenant.json("image", "show", f"{name}-image")
    assert (image["disk_format"], image["size"]) == ("raw", 1 << 30)
