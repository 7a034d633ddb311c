"""The stack after PostgreSQL drops every connection (a restart, a failover, a
proxy's idle timeout): it must keep answering and catch up on its own.

These tests get a private stack (on Redis database 1, so its workers never
share queues with the package's stack): a failure here may leave it broken."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from e2e.helpers import (
    COMPUTE,
    MICROVERSION,
    Stack,
    auth_body,
    running_stack,
    wait_for,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def private_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/1"
    with running_stack(pg_cluster, template_database, redis_url, flush="db", hosts=1) as stack:
        yield stack


def drop_connections(pg_cluster: PrivateCluster, stack: Stack) -> int:
    """What a PostgreSQL restart does to clients: end every session of the stack."""
    database = stack.database_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def admin_headers(private_stack: Stack) -> dict[str, str]:
    """An admin token, taken before any connection is dropped."""
    response = httpx.post(
        f"{private_stack.url}/identity/v3/auth/tokens",
        json=auth_body("admin", private_stack.admin_password, "admin"),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return {"X-Auth-Token": response.headers["X-Subject-Token"], **MICROVERSION}


READS = (
    f"{COMPUTE}/servers",
    f"{COMPUTE}/servers/detail",
    f"{COMPUTE}/flavors/detail",
    f"{COMPUTE}/limits",
    "/image/v2/images",
)


def read_statuses(stack: Stack, headers: dict[str, str], rounds: int) -> list[int]:
    # A fresh connection each time: uvicorn closes one that saw a 500.
    return [
        httpx.get(f"{stack.url}{path}", headers=headers, timeout=30).status_code
        for path in READS * rounds
    ]


def test_api_answers_without_500_after_the_database_drops_connections(
    private_stack: Stack, pg_cluster: PrivateCluster, admin_headers: dict[str, str]
) -> None:
    headers = admin_headers
    assert set(read_statuses(private_stack, headers, 2)) == {200}  # pools now hold connections
    assert drop_connections(pg_cluster, private_stack) > 0
    time.sleep(0.5)  # let the terminated backends exit

    statuses = read_statuses(private_stack, headers, 3)

    assert statuses == [200] * len(statuses)


def test_read_models_catch_up_after_the_database_drops_connections(
    private_stack: Stack, pg_cluster: PrivateCluster, admin_headers: dict[str, str]
) -> None:
    """The projector's followers must outlive a database error and carry on."""
    headers = admin_headers
    token = httpx.get(
        f"{private_stack.url}/identity/v3/auth/tokens",
        headers={**headers, "X-Subject-Token": headers["X-Auth-Token"]},
        timeout=10,
    )
    quota_url = (
        f"{private_stack.url}{COMPUTE}/os-quota-sets/{token.json()['token']['project']['id']}"
    )
    assert drop_connections(pg_cluster, private_stack) > 0
    time.sleep(0.5)  # let the terminated backends exit

    def limit_shown() -> bool:
        # A 500 from a stale pooled connection is the test above's business; a
        # 503 is a recorded write that the read model has yet to show.
        update = httpx.put(
            quota_url, json={"quota_set": {"instances": 7}}, headers=headers, timeout=30
        )
        if update.status_code not in (200, 503):
            return False
        shown = httpx.get(quota_url, headers=headers, timeout=30)
        return shown.status_code == 200 and shown.json()["quota_set"]["instances"] == 7

    # A surviving follower is woken by the write's NOTIFY at once, or by its
    # 5 s safety wake-up at the latest.
    wait_for(limit_shown, 12, "the quotas read model to show the new limit", interval=0.5)
