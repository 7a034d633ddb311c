"""Server tags (compute 2.26, on boot from 2.52) over HTTP and with the
unmodified `openstack` client; bad tags get a 400 and append nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    last_notification_id,
)
from e2e.test_microversions import at
from e2e.test_openstack_cli import as_json, ok, openstack

pytestmark = pytest.mark.e2e


def test_tag_routes_add_check_replace_and_remove(
    member_session: Session, booted: dict[str, Any]
) -> None:
    client, tags = member_session.client, f"{COMPUTE}/servers/{booted['id']}/tags"
    assert client.get(tags, headers=at("2.25")).status_code == 404  # not before 2.26
    added = client.put(f"{tags}/web", headers=at("2.26"))
    assert added.status_code == 201 and added.headers["location"].endswith("/tags/web")
    assert client.put(f"{tags}/web", headers=at("2.26")).status_code == 204  # there already
    assert client.get(f"{tags}/web", headers=at("2.26")).status_code == 204
    assert client.get(f"{tags}/db", headers=at("2.26")).status_code == 404

    replaced = client.put(tags, json={"tags": ["a", "b"]}, headers=at("2.26"))
    assert replaced.status_code == 200 and replaced.json() == {"tags": ["a", "b"]}
    shown = client.get(f"{COMPUTE}/servers/{booted['id']}", headers=at("2.26")).json()
    assert shown["server"]["tags"] == ["a", "b"]
    assert client.delete(f"{tags}/a", headers=at("2.26")).status_code == 204
    assert client.delete(f"{tags}/a", headers=at("2.26")).status_code == 404
    assert client.get(tags, headers=at("2.26")).json() == {"tags": ["b"]}
    assert client.delete(tags, headers=at("2.26")).status_code == 204
    assert client.get(tags, headers=at("2.26")).json() == {"tags": []}


def test_bad_tags_are_refused_and_change_nothing(
    stack: Stack, member_session: Session, booted: dict[str, Any], image_id: str
) -> None:
    client, tags = member_session.client, f"{COMPUTE}/servers/{booted['id']}/tags"
    before = last_notification_id(stack)
    for body in (
        {"tags": ["a,b"]},
        {"tags": ["x" * 61]},
        {"tags": [f"t{n}" for n in range(51)]},
        {"tags": "web"},
        {},
    ):
        refused = client.put(tags, json=body, headers=at("2.26"))
        assert refused.status_code == 400, body
    assert client.put(f"{tags}/a,b", headers=at("2.26")).status_code == 400
    early = client.post(
        f"{COMPUTE}/servers",
        json={"server": {**boot_body("early", image_id)["server"], "tags": ["x"]}},
        headers=at("2.51"),
    )
    assert early.status_code == 400  # tags on boot come with 2.52
    assert last_notification_id(stack) == before


def test_the_cli_tags_on_boot_sets_unsets_and_lists_by_tag(stack: Stack) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = [f"tag-{suffix}-{n}" for n in (1, 2)]
    boot = ["server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2", "--nic", "none"]
    try:
        made = as_json(
            openstack(stack, *boot, "--tag", f"web-{suffix}", "--wait", "-f", "json", names[0])
        )
        assert made["tags"] == [f"web-{suffix}"]
        ok(openstack(stack, *boot, "--wait", names[1]))
        ok(openstack(stack, "server", "set", "--tag", f"db-{suffix}", names[1]))
        ok(openstack(stack, "server", "set", "--tag", f"prod-{suffix}", names[0]))

        def listed(*args: str) -> set[str]:
            rows = as_json(openstack(stack, "server", "list", *args, "-f", "json"))
            return {r["Name"] for r in rows} & set(names)

        assert listed("--tag", f"web-{suffix}") == {names[0]}
        assert listed("--tag", f"web-{suffix}", "--tag", f"prod-{suffix}") == {names[0]}
        assert listed("--not-tag", f"web-{suffix}") == {names[1]}
        ok(openstack(stack, "server", "unset", "--tag", f"web-{suffix}", names[0]))
        shown = as_json(openstack(stack, "server", "show", names[0], "-f", "json"))
        assert shown["tags"] == [f"prod-{suffix}"]
    finally:
        for name in names:
            openstack(stack, "server", "delete", "--wait", name)
