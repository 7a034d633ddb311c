"""Schemathesis against a stack of its own: every operation of /openapi.json,
with generated (and deliberately wrong) requests, as an admin and as a
member. No answer may be a 5xx, and none may break the documented schema.
Examples are bounded so the run takes about a minute."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.helpers import Stack, create_member, login, running_stack
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = "7"  # per operation: ~35 s a role with the network and volume APIs
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")  # the JSON-patch media type


@pytest.fixture(scope="module")
def own_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    """Fuzzing creates and deletes at random: keep it off the shared stack."""
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/5"
    with running_stack(pg_cluster, template_database, redis_url, flush="db", hosts=1) as stack:
        yield stack


def _token(stack: Stack, user: str, password: str, project: str) -> str:
    session = login(stack, user, password, project)
    try:
        return str(session.client.headers["X-Auth-Token"])
    finally:
        session.client.close()


@pytest.mark.parametrize("who", ["admin", "member"])
def test_no_operation_answers_a_server_error_or_breaks_its_schema(
    own_stack: Stack, who: str, tmp_path: Path
) -> None:
    if who == "admin":
        token = _token(own_stack, "admin", own_stack.admin_password, "admin")
    else:
        member = create_member(own_stack, "fuzz")
        token = _token(own_stack, member.user, member.password, member.project)
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{own_stack.url}/openapi.json",
            "--header",
            f"X-Auth-Token: {token}",
            "--max-examples",
            EXAMPLES,
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "7",
            "--generation-database",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
    )
    assert result.returncode == 0, result.stdout[-6000:] + own_stack.logs_tail()
    assert "passed" in result.stdout
