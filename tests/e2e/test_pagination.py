"""Server listings page newest-first with limit and marker, as in Nova."""

from __future__ import annotations

import pytest

from e2e.helpers import COMPUTE, Session, boot_body, wait_until_gone

pytestmark = pytest.mark.e2e


def test_limit_and_marker_walk_the_servers_newest_first(
    member_session: Session, image_id: str
) -> None:
    client = member_session.client
    ids = []
    for name in ("first", "second", "third"):
        response = client.post(f"{COMPUTE}/servers", json=boot_body(name, image_id))
        assert response.status_code == 202, response.text
        ids.append(response.json()["server"]["id"])
    try:
        page = client.get(f"{COMPUTE}/servers", params={"limit": 2}).json()["servers"]
        assert [s["name"] for s in page] == ["third", "second"]
        rest = client.get(f"{COMPUTE}/servers", params={"limit": 2, "marker": page[-1]["id"]})
        assert [s["name"] for s in rest.json()["servers"]] == ["first"]
    finally:
        for server_id in ids:
            client.delete(f"{COMPUTE}/servers/{server_id}")
        for server_id in ids:
            wait_until_gone(client, server_id)


def test_filters_apply_before_the_limit(member_session: Session, image_id: str) -> None:
    client = member_session.client
    ids = []
    for name in ("web-1", "db-1", "db-2"):
        response = client.post(f"{COMPUTE}/servers", json=boot_body(name, image_id))
        assert response.status_code == 202, response.text
        ids.append(response.json()["server"]["id"])
    try:
        # The newest server is not a "web" one: a filter applied after the
        # limit would return an empty page here.
        page = client.get(f"{COMPUTE}/servers", params={"name": "web", "limit": 1})
        assert [s["name"] for s in page.json()["servers"]] == ["web-1"]
        building = client.get(
            f"{COMPUTE}/servers/detail",
            params={"status": "NOSUCH"},
            headers={"OpenStack-API-Version": "compute 2.38"},  # an empty list before
        )
        assert building.status_code == 400
        assert "Invalid status value" in building.json()["badRequest"]["message"]
    finally:
        for server_id in ids:
            client.delete(f"{COMPUTE}/servers/{server_id}")
        for server_id in ids:
            wait_until_gone(client, server_id)
