"""Compute microversions 2.38 to 2.52: each request is answered in the format
of the version it asked for, on both sides of every switch we serve."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    last_notification_id,
    wait_for,
    wait_for_status,
    wait_until_gone,
)
from e2e.test_openstack_cli import as_json, openstack

pytestmark = pytest.mark.e2e


def at(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


def test_the_version_document_says_2_52_and_2_53_is_refused(admin: Session) -> None:
    shown = admin.client.get("/compute/v2.1/").json()["version"]
    assert (shown["min_version"], shown["version"]) == ("2.1", "2.52")
    latest = admin.client.get(f"{COMPUTE}/flavors", headers=at("latest"))
    assert latest.headers["openstack-api-version"] == "compute 2.52"
    refused = admin.client.get(f"{COMPUTE}/flavors", headers=at("2.53"))
    assert refused.status_code == 406
    assert "maximum is 2.52" in refused.json()["notAcceptable"]["message"]


def test_compute_answers_carry_both_request_id_headers(admin: Session) -> None:
    """2.46 only signals it; every compute answer, errors too, has both."""
    for path in ("/flavors", "/servers/not-a-server"):
        response = admin.client.get(f"{COMPUTE}{path}", headers=at("2.46"))
        assert response.headers["x-compute-request-id"].startswith("req-")
        assert (
            response.headers["x-compute-request-id"] == response.headers["x-openstack-request-id"]
        )
    assert "x-compute-request-id" not in admin.client.get("/image/v2/images").headers


def test_an_unknown_status_filter_lists_nothing_before_2_38_and_is_refused_after(
    member_session: Session, booted: dict[str, Any]
) -> None:
    client = member_session.client
    for path in ("/servers", "/servers/detail"):
        old = client.get(f"{COMPUTE}{path}", params={"status": "NOSUCH"}, headers=at("2.37"))
        assert (old.status_code, old.json()) == (200, {"servers": []})
        new = client.get(f"{COMPUTE}{path}", params={"status": "NOSUCH"}, headers=at("2.38"))
        assert new.status_code == 400
        assert "Invalid status value" in new.json()["badRequest"]["message"]
    active = client.get(f"{COMPUTE}/servers", params={"status": "ACTIVE"}, headers=at("2.38"))
    assert [s["id"] for s in active.json()["servers"]] == [booted["id"]]


def test_limits_drop_max_image_meta_from_2_39(member_session: Session) -> None:
    old = member_session.client.get(f"{COMPUTE}/limits", headers=at("2.38")).json()
    new = member_session.client.get(f"{COMPUTE}/limits", headers=at("2.39")).json()
    assert old["limits"]["absolute"]["maxImageMeta"] == 128
    assert "maxImageMeta" not in new["limits"]["absolute"]
    assert old["limits"]["absolute"]["maxServerMeta"] == 128
    assert new["limits"]["absolute"]["maxServerMeta"] == 128


def _usage(client: httpx.Client, version: str, path: str = "", **params: Any) -> httpx.Response:
    return client.get(f"{COMPUTE}/os-simple-tenant-usage{path}", params=params, headers=at(version))


def test_usage_pages_by_limit_and_marker_from_2_40(
    member_session: Session, admin: Session, image_id: str
) -> None:
    client, project = member_session.client, member_session.project_id
    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    ids = []
    for n in range(3):
        response = client.post(f"{COMPUTE}/servers", json=boot_body(f"use-{n}", image_id))
        assert response.status_code == 202, response.text
        ids.append(response.json()["server"]["id"])
    try:
        for server_id in ids:
            wait_for_status(client, server_id, ["ACTIVE"])
        mine = f"/{project}"
        before = _usage(client, "2.39", mine, start=start, limit=1).json()
        assert len(before["tenant_usage"]["server_usages"]) == 3  # 2.39 knows no limit
        assert "tenant_usage_links" not in before

        first = _usage(client, "2.40", mine, start=start, limit=2).json()
        page = [s["instance_id"] for s in first["tenant_usage"]["server_usages"]]
        assert page == sorted(ids)[:2]  # by server id, as Nova pages
        assert first["tenant_usage"]["total_hours"] == pytest.approx(
            sum(s["hours"] for s in first["tenant_usage"]["server_usages"])
        )
        (link,) = first["tenant_usage_links"]
        assert link["rel"] == "next" and f"marker={page[-1]}" in link["href"]
        rest = client.get(link["href"], headers=at("2.40")).json()
        assert [s["instance_id"] for s in rest["tenant_usage"]["server_usages"]] == sorted(ids)[2:]
        assert "tenant_usage_links" not in rest  # a page that is not full is the last

        everyone = _usage(admin.client, "2.40", start=start, limit=1, detailed=1).json()
        (one,) = [s for t in everyone["tenant_usages"] for s in t["server_usages"]]
        assert everyone["tenant_usages_links"][0]["rel"] == "next"
        after = admin.client.get(everyone["tenant_usages_links"][0]["href"], headers=at("2.40"))
        shown = [
            s["instance_id"] for t in after.json()["tenant_usages"] for s in t["server_usages"]
        ]
        assert one["instance_id"] not in shown

        for bad in ({"marker": str(uuid.uuid4())}, {"marker": "nope"}, {"limit": "-1"}):
            refused = _usage(client, "2.40", mine, start=start, **bad)
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["badRequest"]["message"]
    finally:
        for server_id in ids:
            client.delete(f"{COMPUTE}/servers/{server_id}")
        for server_id in ids:
            wait_until_gone(client, server_id)


def test_aggregates_show_their_uuid_from_2_41(admin: Session) -> None:
    name = f"agg-{uuid.uuid4().hex[:8]}"
    made = admin.client.post(
        f"{COMPUTE}/os-aggregates", json={"aggregate": {"name": name}}, headers=at("2.40")
    )
    assert made.status_code == 200, made.text
    assert "uuid" not in made.json()["aggregate"]
    number = made.json()["aggregate"]["id"]
    try:
        shown = admin.client.get(f"{COMPUTE}/os-aggregates/{number}", headers=at("2.41"))
        ident = shown.json()["aggregate"]["uuid"]
        assert str(uuid.UUID(ident)) == ident and shown.json()["aggregate"]["id"] == number
        listed = admin.client.get(f"{COMPUTE}/os-aggregates", headers=at("2.41")).json()
        assert {a["id"]: a["uuid"] for a in listed["aggregates"]}[number] == ident
        old = admin.client.get(f"{COMPUTE}/os-aggregates", headers=at("2.40")).json()
        assert all("uuid" not in a for a in old["aggregates"])
    finally:
        assert admin.client.delete(f"{COMPUTE}/os-aggregates/{number}").status_code == 200


def _wait_for_image(admin: Session, image_id: str) -> None:
    def active() -> bool:
        response = admin.client.get(f"/image/v2/images/{image_id}")
        return response.status_code == 200 and response.json()["status"] == "active"

    wait_for(active, 30, f"image {image_id} to be uploaded")


def test_create_image_answers_the_image_id_from_2_45(
    stack: Stack, member_session: Session, admin: Session, booted: dict[str, Any]
) -> None:
    client, url = member_session.client, f"{COMPUTE}/servers/{booted['id']}/action"
    old = client.post(url, json={"createImage": {"name": "old-way"}}, headers=at("2.44"))
    assert old.status_code == 202 and old.content == b""
    old_id = old.headers["location"].rsplit("/", 1)[1]
    wait_for_status(client, booted["id"], ["ACTIVE"])
    new = client.post(url, json={"createImage": {"name": "new-way"}}, headers=at("2.45"))
    assert new.status_code == 202 and "location" not in new.headers
    new_id = new.json()["image_id"]
    assert str(uuid.UUID(new_id)) == new_id != old_id
    wait_for_status(client, booted["id"], ["ACTIVE"])
    for image in (old_id, new_id):
        _wait_for_image(admin, image)
        assert client.get(f"/image/v2/images/{image}").json()["name"] in ("old-way", "new-way")
        assert client.delete(f"/image/v2/images/{image}").status_code == 204
    before = last_notification_id(stack)
    bad = client.post(url, json={"createImage": {"name": ""}}, headers=at("2.45"))
    assert bad.status_code == 400 and last_notification_id(stack) == before


def _spec_flavor(admin: Session) -> str:
    flavor_id = f"mv-{uuid.uuid4().hex[:8]}"
    body = {
        "flavor": {
            "name": f"{flavor_id}-name",
            "id": flavor_id,
            "ram": 256,
            "vcpus": 1,
            "disk": 1,
            "OS-FLV-EXT-DATA:ephemeral": 1,
            "swap": 64,
        }
    }
    assert admin.client.post(f"{COMPUTE}/flavors", json=body).status_code == 200
    specs = {"extra_specs": {"hw:cpu_policy": "shared", "quota:cpu_shares": "512"}}
    made = admin.client.post(f"{COMPUTE}/flavors/{flavor_id}/os-extra_specs", json=specs)
    assert made.status_code == 200, made.text
    return flavor_id


def test_a_server_embeds_its_flavor_as_booted_from_2_47(
    admin: Session, member_session: Session, image_id: str
) -> None:
    flavor_id = _spec_flavor(admin)
    client = member_session.client
    response = client.post(f"{COMPUTE}/servers", json=boot_body("emb", image_id, flavor_id))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    try:
        wait_for_status(client, server_id, ["ACTIVE"])
        # A later change to the flavor's specs is not the server's.
        changed = {"extra_specs": {"hw:cpu_policy": "dedicated"}}
        spec_url = f"{COMPUTE}/flavors/{flavor_id}/os-extra_specs"
        assert admin.client.post(spec_url, json=changed).status_code == 200
        embedded = {
            "original_name": f"{flavor_id}-name",
            "vcpus": 1,
            "ram": 256,
            "disk": 1,
            "ephemeral": 1,
            "swap": 64,
            "extra_specs": {"hw:cpu_policy": "shared", "quota:cpu_shares": "512"},
        }
        old = client.get(f"{COMPUTE}/servers/{server_id}", headers=at("2.46")).json()["server"]
        assert old["flavor"]["id"] == flavor_id
        assert {link["rel"] for link in old["flavor"]["links"]} == {"self", "bookmark"}
        shown = client.get(f"{COMPUTE}/servers/{server_id}", headers=at("2.47")).json()["server"]
        assert shown["flavor"] == embedded
        listed = client.get(f"{COMPUTE}/servers/detail", headers=at("2.51")).json()["servers"]
        assert [s["flavor"] for s in listed] == [embedded]
        renamed = client.put(
            f"{COMPUTE}/servers/{server_id}", json={"server": {"name": "r"}}, headers=at("2.47")
        )
        assert renamed.json()["server"]["flavor"] == embedded
        as_admin = admin.client.get(f"{COMPUTE}/servers/{server_id}", headers=at("2.47"))
        assert as_admin.json()["server"]["flavor"] == embedded
    finally:
        client.delete(f"{COMPUTE}/servers/{server_id}")
        wait_until_gone(client, server_id)
        admin.client.delete(f"{COMPUTE}/flavors/{flavor_id}")


def test_members_see_an_actions_steps_from_2_51_without_tracebacks(
    member_session: Session, admin: Session, booted: dict[str, Any]
) -> None:
    url = f"{COMPUTE}/servers/{booted['id']}/os-instance-actions"
    (create,) = member_session.client.get(url).json()["instanceActions"]
    one = f"{url}/{create['request_id']}"
    old = member_session.client.get(one, headers=at("2.50")).json()["instanceAction"]
    assert "events" not in old and old["action"] == "create"
    new = member_session.client.get(one, headers=at("2.51")).json()["instanceAction"]
    assert [(e["event"], e["result"]) for e in new["events"]] == [
        ("conductor_schedule_and_build_instances", "Success"),
        ("compute_build_and_run_instance", "Success"),
    ]
    assert all("traceback" not in e and e["finish_time"] for e in new["events"])
    for version in ("2.50", "2.51"):  # admins see all of it, at every version
        full = admin.client.get(one, headers=at(version)).json()["instanceAction"]
        assert [e["event"] for e in full["events"]] == [e["event"] for e in new["events"]]
        assert all("traceback" in e for e in full["events"])


def test_the_cli_shows_the_embedded_flavor_at_2_47(stack: Stack, admin: Session) -> None:
    flavor_id = _spec_flavor(admin)
    name = f"cli-mv-{uuid.uuid4().hex[:8]}"
    boot = ["server", "create", "--flavor", flavor_id, "--image", "tiny-qcow2", "--nic", "none"]
    as_json(openstack(stack, *boot, "--wait", "-f", "json", name))
    try:
        old = as_json(
            openstack(
                stack, "--os-compute-api-version", "2.46", "server", "show", name, "-f", "json"
            )
        )
        assert old["flavor"] == f"{flavor_id}-name ({flavor_id})"
        new = as_json(
            openstack(
                stack, "--os-compute-api-version", "2.47", "server", "show", name, "-f", "json"
            )
        )
        assert new["flavor"]["original_name"] == f"{flavor_id}-name"
        assert (new["flavor"]["vcpus"], new["flavor"]["ram"], new["flavor"]["swap"]) == (1, 256, 64)
        assert new["flavor"]["extra_specs"] == {
            "hw:cpu_policy": "shared",
            "quota:cpu_shares": "512",
        }
        # Unpinned, the client negotiates the highest version both know: 2.52.
        negotiated = as_json(openstack(stack, "server", "show", name, "-f", "json"))
        assert negotiated["flavor"] == new["flavor"]
        listed = as_json(openstack(stack, "server", "list", "--name", name, "-f", "json"))
        assert [s["Flavor"] for s in listed] == [f"{flavor_id}-name"]
    finally:
        openstack(stack, "server", "delete", "--wait", name)
        admin.client.delete(f"{COMPUTE}/flavors/{flavor_id}")
