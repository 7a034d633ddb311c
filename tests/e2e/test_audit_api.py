"""`GET /audit` and `cloudledger audit` against the running stack: admins read
the trail in pages, members are refused (and that refusal is itself in the
trail), quota refusals are there too, no password shows, and the chain of a
ledger with real history verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from e2e.helpers import COMPUTE, Session, Stack, auth_body, boot_body, create_member, login

pytestmark = pytest.mark.e2e


def _trail(admin: Session, **params: str) -> dict[str, Any]:
    response = admin.client.get("/audit", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_admins_read_the_trail_as_cadf(admin: Session) -> None:
    events = _trail(admin, type="project", limit="5")["events"]
    assert events, "the seeded projects are in the ledger"
    first = events[0]
    assert first["action"] == "create" and first["outcome"] == "success"
    assert {"initiator", "target", "eventTime", "observer", "request_id"} <= set(first)
    assert first["target"]["typeURI"] == "identity/project"


def test_pages_follow_one_another_without_overlap(admin: Session) -> None:
    first = _trail(admin, limit="2")
    (link,) = first["links"]
    assert link["rel"] == "next" and "marker=" in link["href"]
    response = admin.client.get(link["href"])
    assert response.status_code == 200, response.text
    second = response.json()["events"]
    assert len(second) == 2
    assert {r["id"] for r in first["events"]}.isdisjoint({r["id"] for r in second})
    everything = [r["id"] for r in _trail(admin, limit="4")["events"]]
    assert everything == [r["id"] for r in first["events"] + second]


def test_a_member_is_refused_and_the_refusal_is_audited(stack: Stack, admin: Session) -> None:
    member = create_member(stack, "audit")
    session = login(stack, member.user, member.password, member.project)
    try:
        response = session.client.get("/audit")
        assert response.status_code == 403
        assert response.json()["forbidden"]["code"] == 403
        request_id = response.headers["X-OpenStack-Request-ID"]
    finally:
        session.client.close()
    trail = admin.client.get("/audit", params={"user": session.user_id, "limit": "1000"})
    assert trail.status_code == 200
    assert member.password not in trail.text
    (denied,) = [r for r in trail.json()["events"] if r["outcome"] == "denied"]
    assert denied["event"] == "audit:list"
    assert denied["request_id"] == request_id
    assert denied["initiator"]["project_id"] == session.project_id
    assert denied["reason"]["reasonCode"] == "403"


def test_a_quota_refusal_is_audited_as_a_failure(
    stack: Stack, admin: Session, image_id: str
) -> None:
    member = create_member(stack, "audit-quota")
    session = login(stack, member.user, member.password, member.project)
    try:
        quota = {"quota_set": {"instances": 0}}
        response = admin.client.put(f"{COMPUTE}/os-quota-sets/{session.project_id}", json=quota)
        assert response.status_code == 200, response.text
        response = session.client.post(f"{COMPUTE}/servers", json=boot_body("q", image_id))
        assert response.status_code == 403, response.text
    finally:
        session.client.close()
    events = _trail(admin, project=session.project_id, type="server", limit="1000")["events"]
    (refused,) = [r for r in events if r["outcome"] == "failure"]
    assert refused["event"] == "quota:instances"
    assert refused["target"]["id"] == f"{COMPUTE}/servers"
    assert "Quota exceeded for instances" in refused["reason"]["description"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "ISO 8601"),
        ({"limit": "0"}, "limit must be"),
        ({"marker": "nonsense"}, "marker"),
        ({"resource_id": "vm1"}, "resource id"),
        ({"type": "spaceship"}, "unknown resource type"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    admin: Session, params: dict[str, str], message: str
) -> None:
    response = admin.client.get("/audit", params=params)
    assert response.status_code == 400
    assert message in response.json()["badRequest"]["message"]


def test_the_chain_of_a_ledger_with_real_history_verifies(stack: Stack) -> None:
    env = {**os.environ, "CLOUDLEDGER_DATABASE_URL": stack.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the ledger matches what was appended" in done.stdout


def test_a_failed_login_is_audited_without_its_password(stack: Stack, admin: Session) -> None:
    member = create_member(stack, "audit-login")
    wrong = "not-the-password-" + member.password
    body = auth_body(member.user, wrong, member.project)
    response = httpx.post(f"{stack.url}/identity/v3/auth/tokens", json=body, timeout=10)
    assert response.status_code == 401
    trail = admin.client.get("/audit", params={"action": "authenticate", "limit": "1000"})
    assert trail.status_code == 200
    assert wrong not in trail.text and member.password not in trail.text
    (failed,) = [r for r in trail.json()["events"] if r["initiator"]["id"].startswith(member.user)]
    assert failed["outcome"] == "failure"
    assert failed["reason"]["reasonCode"] == "401"
    assert failed["request_id"] == response.headers["X-OpenStack-Request-ID"]
