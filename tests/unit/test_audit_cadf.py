"""The audit trail's CADF mapping, filters, markers and chain arithmetic, without I/O."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from commands import chain
from domain.errors import InvalidInput
from domain.identity import Project
from domain.values import Actor
from projections.audit import AuditFilter, cadf
from projections.audit_trail import Marker, rejection_cadf

ADMIN = Actor("user-admin", "p-admin", ("admin",), "req-1")


def _project_events() -> list[Any]:
    project = Project("demo", "", "default", [], ADMIN)
    project.update("demo2", "", True, [], ADMIN)
    project.delete(ADMIN)
    return list(project.collect_events())


def test_an_event_maps_to_cadf_with_initiator_target_and_request_id() -> None:
    created, updated, deleted = (cadf(n, e) for n, e in enumerate(_project_events(), 1))
    assert created["action"] == "create" and created["event"] == "Project.Created"
    assert updated["action"] == "update" and deleted["action"] == "delete"
    assert created["initiator"] == {
        "typeURI": "service/security/account/user",
        "id": "user-admin",
        "project_id": "p-admin",
        "roles": ["admin"],
    }
    assert created["target"]["typeURI"] == "identity/project"
    assert created["outcome"] == "success"
    assert created["request_id"] == "req-1"
    assert created["id"] == "ledger-1" and created["notification_id"] == 1
    assert set(created) >= {"eventTime", "observer", "typeURI", "eventType"}


def test_cadf_carries_no_payload() -> None:
    """Only who, what, when: a password hash in an event cannot leak through it."""
    record = cadf(1, _project_events()[0])
    assert "demo" not in repr(record)


def test_filters_match_on_user_project_type_action_and_time() -> None:
    record = cadf(1, _project_events()[0])
    at = datetime.fromisoformat(record["eventTime"])
    assert AuditFilter.parse(user="user-admin").matches(record, None)
    assert not AuditFilter.parse(user="someone").matches(record, None)
    assert AuditFilter.parse(project="p-admin").matches(record, None)
    assert AuditFilter.parse(project="owner-x").matches(record, "ownerx")  # the resource's owner
    assert not AuditFilter.parse(project="p-other").matches(record, None)
    assert AuditFilter.parse(resource_type="project").matches(record, None)
    assert not AuditFilter.parse(resource_type="server").matches(record, None)
    for action in ("create", "Project.Created", "Created"):
        assert AuditFilter.parse(action=action).matches(record, None)
    assert not AuditFilter.parse(action="delete").matches(record, None)
    after = (at + timedelta(seconds=1)).isoformat()
    assert not AuditFilter.parse(since=after).matches(record, None)
    assert AuditFilter.parse(until=after).matches(record, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"since": "last tuesday"}, "not an ISO 8601 time"),
        ({"resource": "vm1"}, "not a resource id"),
        ({"resource_type": "spaceship"}, "unknown resource type"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "since is after until"),
    ],
)
def test_bad_filters_say_what_is_wrong(raw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        AuditFilter.parse(**raw)


def test_a_time_without_a_zone_is_utc() -> None:
    assert AuditFilter.parse(since="2026-12-02T13:00:00").since == datetime(
        2026, 12, 2, 13, tzinfo=UTC
    )


def test_markers_round_trip_and_refuse_anything_else() -> None:
    assert Marker.parse(str(Marker(12, 3))) == Marker(12, 3)
    assert Marker.parse(None) == Marker()
    for bad in ("x", "1-2-3", "-1-2", "1"):
        with pytest.raises(InvalidInput, match="marker"):
            Marker.parse(bad)


def test_a_rejection_maps_to_a_denied_cadf_event() -> None:
    row = {
        "id": 7,
        "at": datetime(2026, 12, 2, 13, tzinfo=UTC),
        "user_id": "u",
        "project_id": "p",
        "request_id": "req-9",
        "action": "compute:servers:delete",
        "target": f"/compute/v2.1/servers/{uuid4()}",
        "outcome": "denied",
        "reason": "Policy doesn't allow compute:servers:delete to be performed.",
        "status": 403,
    }
    record = rejection_cadf(row)
    assert record["outcome"] == "denied" and record["action"] == "delete"
    assert record["target"]["typeURI"] == "compute/server"
    assert record["resource_type"] == "server"
    assert record["reason"]["reasonCode"] == "403"
    assert record["eventTime"] == "2026-12-02T13:00:00.000000+00:00"


def test_a_link_covers_the_previous_link_and_the_digest() -> None:
    oid = uuid4()
    d = chain.digest(oid, 1, "t:T", b"{}")
    assert d == hashlib.sha256(oid.bytes + (1).to_bytes(8, "big") + b"\0\0\0\3t:T{}").digest()
    assert chain.link(chain.GENESIS, d) == hashlib.sha256(bytes(32) + d).digest()
    assert chain.digest(oid, 1, "t:T", b"{} ") != d
    assert chain.digest(str(oid), 1, "t:T", b"{}") == d
