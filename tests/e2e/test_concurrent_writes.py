"""Many clients on one project at once: concurrent deletes and boots never
get a 5xx (a shared aggregate cache once raced and answered 500)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    wait_for,
    wait_for_status,
    wait_until_gone,
)

pytestmark = pytest.mark.e2e


def test_concurrent_deletes_and_boots_in_one_project_never_get_a_5xx(
    stack: Stack, admin: Session, member_session: Session, image_id: str
) -> None:
    room = {"quota_set": {"instances": 500, "cores": 500, "ram": 10**6}}
    quota = admin.client.put(f"{COMPUTE}/os-quota-sets/{member_session.project_id}", json=room)
    assert quota.status_code == 200, quota.text
    headers = dict(member_session.client.headers)

    def call(method: str, path: str, body: object = None) -> httpx.Response:
        return httpx.request(method, stack.url + path, json=body, headers=headers, timeout=60)

    def boot(n: int) -> httpx.Response:
        return call("POST", f"{COMPUTE}/servers", boot_body(f"race-{n}", image_id))

    with ThreadPoolExecutor(20) as pool:
        first = list(pool.map(boot, range(80)))
        assert {r.status_code for r in first} == {202}
        ids = [r.json()["server"]["id"] for r in first]
        for server_id in ids[:10]:  # some settled, the rest still in flight
            wait_for_status(member_session.client, server_id, {"ACTIVE"})
        deletes = [pool.submit(call, "DELETE", f"{COMPUTE}/servers/{i}") for i in ids]
        boots = [pool.submit(boot, n) for n in range(80, 120)]
        answers = [f.result() for f in deletes + boots]

    statuses = sorted({r.status_code for r in answers})
    assert statuses == [202, 204], [r.text for r in answers if r.status_code >= 500][:3]

    def project_servers() -> list[dict[str, object]]:
        listed = member_session.client.get(f"{COMPUTE}/servers/detail").json()["servers"]
        return listed if all(s["status"] == "ACTIVE" for s in listed) else []

    remaining = wait_for(project_servers, 60, "the new boots to settle, the deleted to go")
    assert len(remaining) == 40
    for server in remaining:
        assert member_session.client.delete(f"{COMPUTE}/servers/{server['id']}").status_code == 204
    for server in remaining:  # leave the hosts as the next test expects them
        wait_until_gone(member_session.client, str(server["id"]))
