"""Every answer carries X-OpenStack-Request-Id; a client's own well-formed id
is kept, and the events the request appends carry it too."""

from __future__ import annotations

import re
import uuid

import psycopg

from e2e.helpers import Session, Stack, boot_body, wait_for_status, wait_until_gone

FORMAT = re.compile(r"^req-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


def test_each_answer_gets_a_fresh_request_id(admin: Session) -> None:
    first = admin.client.get("/compute/v2.1/flavors")
    second = admin.client.get("/compute/v2.1/servers/not-a-server")  # an error answer too
    ids = [r.headers["x-openstack-request-id"] for r in (first, second)]
    assert all(FORMAT.match(i) for i in ids) and ids[0] != ids[1]
    assert second.status_code == 404


def test_a_malformed_request_id_from_the_client_is_replaced(admin: Session) -> None:
    sent = "req-'; DROP TABLE servers; --"
    response = admin.client.get("/compute/v2.1/flavors", headers={"X-OpenStack-Request-Id": sent})
    answered = response.headers["x-openstack-request-id"]
    assert answered != sent and FORMAT.match(answered)


def test_the_clients_request_id_is_answered_and_carried_by_the_events(
    stack: Stack, member_session: Session, image_id: str
) -> None:
    rid = f"req-{uuid.uuid4()}"
    response = member_session.client.post(
        "/compute/v2.1/servers",
        json=boot_body("traced", image_id),
        headers={"X-OpenStack-Request-Id": rid},
    )
    assert response.status_code == 202, response.text
    assert response.headers["x-openstack-request-id"] == rid
    server_id = response.json()["server"]["id"]
    wait_for_status(member_session.client, server_id, ["ACTIVE"])
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT topic FROM cloudledger_events WHERE position(%s::bytea IN state) > 0",
            (rid.encode(),),
        ).fetchall()
    topics = {topic.rsplit(":", 1)[1] for (topic,) in rows}
    # the boot itself, and what the workers did on its behalf
    assert {"Instance.Requested", "Quota.Reserved", "Instance.Scheduled"} <= topics
    assert "Instance.Spawned" in topics
    member_session.client.delete(f"/compute/v2.1/servers/{server_id}")
    wait_until_gone(member_session.client, server_id)
