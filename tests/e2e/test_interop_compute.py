"""Compute answers as OpenStack's reference gives them, where the interop
guideline's tempest tests found them different (docs/interop.md): kept here
so they hold where tempest is not run."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    boot_body,
    wait_for,
    wait_for_status,
    wait_until_gone,
)

pytestmark = pytest.mark.e2e


def at(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


def test_v2_0_is_listed_before_v2_1_and_serves_the_v2_1_api_without_microversions(
    admin: Session,
) -> None:
    versions = admin.client.get("/compute/").json()["versions"]
    assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
    legacy = admin.client.get(versions[0]["links"][0]["href"])
    assert legacy.json()["version"]["id"] == "v2.0"
    flavors = admin.client.get("/compute/v2/flavors", headers=at("2.52"))
    assert flavors.status_code == 200, flavors.text
    assert "openstack-api-version" not in flavors.headers  # v2.0 knows no microversions
    assert "m1.tiny" in {f["name"] for f in flavors.json()["flavors"]}


NOVA_2_1_QUOTAS = {
    "instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items", "key_pairs",
    "security_groups", "security_group_rules", "server_groups", "server_group_members",
    "injected_files", "injected_file_content_bytes", "injected_file_path_bytes",
}  # fmt: skip


def test_quota_defaults_and_the_quota_set_hold_nova_s_keys_at_each_microversion(
    member_session: Session,
) -> None:
    client, project = member_session.client, member_session.project_id
    defaults = client.get(f"{COMPUTE}/os-quota-sets/{project}/defaults", headers=at("2.1"))
    assert defaults.status_code == 200, defaults.text
    body = defaults.json()["quota_set"]
    assert set(body) == NOVA_2_1_QUOTAS | {"id"}
    assert (body["instances"], body["cores"], body["ram"]) == (10, 20, 51200)
    shown = client.get(f"{COMPUTE}/os-quota-sets/{project}", headers=at("2.1")).json()
    assert set(shown["quota_set"]) == NOVA_2_1_QUOTAS | {"id"}
    later = client.get(f"{COMPUTE}/os-quota-sets/{project}", headers=at("2.36")).json()
    assert "floating_ips" not in later["quota_set"] and "injected_files" in later["quota_set"]


def test_the_absolute_limits_at_2_1_hold_the_personality_and_network_limits(
    member_session: Session,
) -> None:
    absolute = member_session.client.get(f"{COMPUTE}/limits", headers=at("2.1")).json()
    absolute = absolute["limits"]["absolute"]
    assert absolute["maxPersonality"] == 5 and absolute["maxPersonalitySize"] == 10240
    assert absolute["maxTotalInstances"] == 10 and absolute["totalInstancesUsed"] == 0
    for key in ("maxSecurityGroups", "maxTotalFloatingIps", "maxImageMeta", "maxTotalKeypairs"):
        assert key in absolute
    later = member_session.client.get(f"{COMPUTE}/limits", headers=at("2.39")).json()
    assert "maxImageMeta" not in later["limits"]["absolute"]
    assert "maxSecurityGroups" not in later["limits"]["absolute"]


def test_flavors_filter_by_min_ram_and_disk_and_page_by_limit_and_marker(
    admin: Session,
) -> None:
    def ids(**params: Any) -> list[str]:
        response = admin.client.get(f"{COMPUTE}/flavors/detail", params=params)
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["flavors"]]

    every = ids()
    assert set(ids(minRam=4096)) == {"3", "4", "5"} & set(every)
    assert set(ids(minDisk=80)) == {"4", "5"} & set(every)
    assert ids(limit=2) == every[:2]
    assert ids(marker=every[0], limit=2) == every[1:3]
    bad = admin.client.get(f"{COMPUTE}/flavors", params={"marker": "no-such-flavor"})
    assert bad.status_code == 400
    assert admin.client.get(f"{COMPUTE}/flavors", params={"minRam": "lots"}).status_code == 400


def test_a_server_keeps_its_multibyte_name_access_addresses_and_answers_with_an_admin_password(
    member_session: Session, image_id: str
) -> None:
    client = member_session.client
    name = "₡-сервер-" + uuid.uuid4().hex[:6]
    body = boot_body(name, image_id)
    body["server"].update(accessIPv4="192.0.2.7", accessIPv6="2001:DB8::7", adminPass="s3cret!")
    created = client.post(f"{COMPUTE}/servers", json=body)
    assert created.status_code == 202, created.text
    assert created.json()["server"]["adminPass"] == "s3cret!"
    server = wait_for_status(client, created.json()["server"]["id"], ["ACTIVE"])
    assert (server["name"], server["accessIPv4"], server["accessIPv6"]) == (
        name,
        "192.0.2.7",
        "2001:db8::7",
    )
    changed = client.put(
        f"{COMPUTE}/servers/{server['id']}",
        json={"server": {"accessIPv4": "198.51.100.1", "accessIPv6": "::babe:202:202"}},
        headers=at("2.1"),
    )
    assert changed.status_code == 200, changed.text
    shown = changed.json()["server"]
    assert (shown["accessIPv4"], shown["accessIPv6"]) == ("198.51.100.1", "::babe:202:202")
    assert "OS-EXT-STS:vm_state" not in shown and "locked" not in shown  # Nova's short answer
    client.delete(f"{COMPUTE}/servers/{server['id']}")
    wait_until_gone(client, server["id"])


def test_a_generated_admin_password_comes_back_once_and_a_bad_address_is_refused(
    member_session: Session, image_id: str
) -> None:
    client = member_session.client
    bad = boot_body("bad-address", image_id)
    bad["server"]["accessIPv6"] = "not-an-address"
    refused = client.post(f"{COMPUTE}/servers", json=bad)
    assert refused.status_code == 400, refused.text
    assert client.get(f"{COMPUTE}/servers", params={"name": "bad-address"}).json()["servers"] == []
    created = client.post(f"{COMPUTE}/servers", json=boot_body("generated", image_id)).json()
    password = created["server"]["adminPass"]
    assert len(password) == 12 and password.isalnum()
    server = client.get(f"{COMPUTE}/servers/{created['server']['id']}").json()["server"]
    assert "adminPass" not in server
    client.delete(f"{COMPUTE}/servers/{server['id']}")
    wait_until_gone(client, server["id"])


def test_each_microversion_shows_only_its_own_server_fields(
    member_session: Session, booted: dict[str, Any]
) -> None:
    path = f"{COMPUTE}/servers/{booted['id']}"
    old = member_session.client.get(path, headers=at("2.1")).json()["server"]
    assert not {"locked", "description", "tags"} & set(old)
    newer = member_session.client.get(path, headers=at("2.26")).json()["server"]
    assert {"locked", "description", "tags"} <= set(newer)


def test_servers_filter_by_image_flavor_and_a_lowercase_status(
    member_session: Session, booted: dict[str, Any], image_id: str
) -> None:
    client = member_session.client

    def listed(**params: str) -> set[str]:
        return {s["id"] for s in client.get(f"{COMPUTE}/servers", params=params).json()["servers"]}

    assert booted["id"] in listed(image=image_id, flavor="1", status="active")
    assert booted["id"] not in listed(flavor="2")
    assert booted["id"] not in listed(image=str(uuid.uuid4()))


def test_a_rebuild_builds_the_server_again_from_another_image(
    member_session: Session, booted: dict[str, Any], image_id: str, admin: Session
) -> None:
    client, server_id = member_session.client, booted["id"]
    other = _public_image_copy(admin, image_id)
    asked = {"rebuild": {"imageRef": other, "name": "rebuilt", "metadata": {"k": "v"}}}
    answer = client.post(f"{COMPUTE}/servers/{server_id}/action", json=asked, headers=at("2.1"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["server"]["image"]["id"] == other
    assert answer.json()["server"]["adminPass"]
    server = wait_for_status(client, server_id, ["ACTIVE"])
    assert (server["image"]["id"], server["name"], server["metadata"]) == (
        other,
        "rebuilt",
        {"k": "v"},
    )
    assert client.post(f"{COMPUTE}/servers/{server_id}/action", json={"os-stop": {}}).is_success
    wait_for_status(client, server_id, ["SHUTOFF"])
    again = client.post(
        f"{COMPUTE}/servers/{server_id}/action", json={"rebuild": {"imageRef": image_id}}
    )
    assert again.status_code == 202, again.text
    assert wait_for_status(client, server_id, ["SHUTOFF"])["image"]["id"] == image_id
    missing = client.post(f"{COMPUTE}/servers/{uuid.uuid4()}/action", json=asked)
    assert missing.status_code == 404


def test_the_image_proxy_shows_a_snapshot_until_2_36(
    member_session: Session, booted: dict[str, Any]
) -> None:
    client = member_session.client
    asked = {"createImage": {"name": "snap-₡", "metadata": {"purpose": "test"}}}
    answer = client.post(f"{COMPUTE}/servers/{booted['id']}/action", json=asked, headers=at("2.1"))
    assert answer.status_code == 202, answer.text
    image_id = answer.headers["location"].rsplit("/", 1)[1]

    def active() -> dict[str, Any] | None:
        shown = client.get(f"{COMPUTE}/images/{image_id}", headers=at("2.1"))
        image: dict[str, Any] = shown.json()
        return image if shown.is_success and image["image"]["status"] == "ACTIVE" else None

    image = wait_for(active, 30, "the snapshot to be ACTIVE")["image"]
    assert (image["name"], image["metadata"]["purpose"]) == ("snap-₡", "test")
    assert image["server"]["id"] == booted["id"]
    assert client.get(f"{COMPUTE}/images/{image_id}", headers=at("2.36")).status_code == 404
    assert client.delete(f"{COMPUTE}/images/{image_id}", headers=at("2.1")).status_code == 204
    wait_for_status(client, booted["id"], ["ACTIVE"])


def test_an_x509_keypair_is_generated_at_2_2(member_session: Session) -> None:
    name = f"x509-{uuid.uuid4().hex[:6]}"
    body = {"keypair": {"name": name, "type": "x509"}}
    created = member_session.client.post(f"{COMPUTE}/os-keypairs", json=body, headers=at("2.2"))
    assert created.status_code == 201, created.text  # 201 from 2.2, as in Nova
    keypair = created.json()["keypair"]
    assert keypair["type"] == "x509" and keypair["public_key"].startswith("-----BEGIN CERTIFICATE")
    assert len(keypair["fingerprint"].split(":")) == 20 and keypair["private_key"]
    member_session.client.delete(f"{COMPUTE}/os-keypairs/{name}")


def test_actions_without_arguments_take_an_empty_object(
    member_session: Session, booted: dict[str, Any]
) -> None:
    path = f"{COMPUTE}/servers/{booted['id']}/action"
    assert member_session.client.post(path, json={"lock": {}}).status_code == 202
    assert member_session.client.post(path, json={"unlock": None}).status_code == 202
    refused = member_session.client.post(path, json={"lock": {"what": 1}})
    assert refused.status_code == 400


def _public_image_copy(admin: Session, image_id: str) -> str:
    data = admin.client.get(f"/image/v2/images/{image_id}/file").content
    body = {"name": f"copy-{uuid.uuid4().hex[:6]}", "disk_format": "qcow2",
            "container_format": "bare", "visibility": "public"}  # fmt: skip
    created = admin.client.post("/image/v2/images", json=body).json()
    upload = admin.client.put(
        f"/image/v2/images/{created['id']}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 204, upload.text
    wait_for(
        lambda: admin.client.get(f"/image/v2/images/{created['id']}").json()["status"] == "active",
        30,
        "the copy to be active",
    )
    return str(created["id"])
