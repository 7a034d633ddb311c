"""Fixtures of the end-to-end tests: the real stack (`cloudledger run --hosts 2`)
as a subprocess, started once for the e2e package on a fresh database of the
session cluster and the (flushed) session Redis, and stopped after its last test
so later tests sharing that Redis never meet its workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    create_member,
    login,
    running_stack,
    wait_for_status,
    wait_until_gone,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis


@pytest.fixture(scope="package")
def stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    """The whole control plane: projector, relay, scheduler, two compute workers, API."""
    with running_stack(pg_cluster, template_database, redis_server.url(), flush="all") as stack:
        yield stack


@pytest.fixture(scope="package")
def admin(stack: Stack) -> Iterator[Session]:
    """The seeded admin, scoped to the admin project."""
    session = login(stack, "admin", stack.admin_password, "admin")
    yield session
    session.client.close()


@pytest.fixture
def member_session(stack: Stack) -> Iterator[Session]:
    """A member of a fresh project of its own, logged in."""
    member = create_member(stack)
    session = login(stack, member.user, member.password, member.project)
    yield session
    session.client.close()


@pytest.fixture(scope="package")
def image_id(admin: Session) -> str:
    """The seeded public image."""
    response = admin.client.get("/image/v2/images", params={"name": "tiny-qcow2"})
    assert response.status_code == 200, response.text
    (image,) = response.json()["images"]
    assert image["status"] == "active"
    return str(image["id"])


@pytest.fixture
def booted(member_session: Session, image_id: str) -> Iterator[dict[str, Any]]:
    """An ACTIVE server of a fresh project, deleted afterwards."""
    client = member_session.client
    response = client.post(f"{COMPUTE}/servers", json=boot_body("mv", image_id))
    assert response.status_code == 202, response.text
    server = wait_for_status(client, response.json()["server"]["id"], ["ACTIVE"])
    yield server
    client.delete(f"{COMPUTE}/servers/{server['id']}")
    wait_until_gone(client, server["id"])
