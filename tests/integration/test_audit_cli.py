"""`cloudledger audit` on real PostgreSQL: listing with filters as a table and
as CADF JSON lines, read in pages; one resource's history; the state as of a
moment; rejected requests beside the events; and bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from helpers import Cloud, build_cloud

from commands.identity import CreateUser
from commands.rejections import PostgresRejections, Rejection
from domain.values import SYSTEM
from ops.cli import main
from projections import audit
from projections.bootstrap import postgres_recorder


@pytest.fixture
def cloud(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(audit, "PAGE", 3)  # many pages, even for a small ledger
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_json_lines_are_cadf_with_who_and_the_request_id(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cloud.boot("vm1")
    code, out, _ = _run(capsys, "--json", "--resource", str(server))
    assert code == 0
    (created,) = _lines(out)
    assert created["action"] == "create"
    assert created["event"] == "Instance.Requested"
    assert created["outcome"] == "success"
    assert created["target"] == {"typeURI": "compute/server", "id": str(server)}
    assert created["initiator"]["id"] == "user-demo"
    assert created["initiator"]["project_id"] == cloud.project_id
    assert created["request_id"] == "req-demo"
    assert created["observer"]["id"] == "cloudledger"
    assert datetime.fromisoformat(created["eventTime"]).tzinfo is not None


def test_filters_by_project_user_type_action_and_time(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC)
    time.sleep(0.01)
    server = cloud.boot("vm1")
    cloud.action("lock", server)
    code, out, _ = _run(capsys, "--json", "--project", cloud.project_id, "--type", "server")
    assert code == 0
    events = [r["event"] for r in _lines(out)]
    assert events == ["Instance.Requested", "Instance.Locked"]
    _, out, _ = _run(capsys, "--json", "--user", "user-demo", "--action", "Locked")
    assert [r["target"]["id"] for r in _lines(out)] == [str(server)]
    _, out, _ = _run(capsys, "--json", "--since", before.isoformat(), "--type", "server")
    assert len(_lines(out)) == 2
    _, out, _ = _run(capsys, "--json", "--until", before.isoformat(), "--type", "server")
    assert _lines(out) == []
    _, out, _ = _run(capsys, "--json", "--action", "create", "--type", "flavor", "--limit", "2")
    assert len(_lines(out)) == 2


def test_the_table_lists_every_event_across_pages(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "OUTCOME", "ACTION", "TARGET", "WHO"]
    assert len(lines) - 1 == cloud.last_notification_id()  # every event, pages of 3
    assert any("create:Flavor.Created" in line for line in lines)


def test_history_tells_a_server_from_request_to_deletion(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cloud.boot("vm1")
    cloud.action("lock", server)
    cloud.action("unlock", server)
    cloud.action("delete", server)
    code, out, _ = _run(capsys, "history", str(server), "--json")
    assert code == 0
    story = _lines(out)
    assert [r["event"] for r in story] == [
        "Instance.Requested",
        "Instance.Locked",
        "Instance.Unlocked",
        "Instance.DeleteRequested",
        "Instance.Deleted",  # never scheduled: nothing to tear down
    ]
    assert {r["initiator"]["id"] for r in story} == {"user-demo"}
    code, out, _ = _run(capsys, "history", str(server))
    assert code == 0 and "delete:Instance.DeleteRequested" in out


def test_rejected_requests_show_beside_the_events(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = postgres_recorder(cloud.app)
    PostgresRejections(recorder.datastore).record(
        Rejection("user-demo", cloud.project_id, "req-x", "compute:servers:create",
                  "/compute/v2.1/servers", "denied", "Policy doesn't allow it", 403)
    )  # fmt: skip
    code, out, _ = _run(capsys, "--json", "--user", "user-demo", "--type", "server")
    assert code == 0
    (denied,) = [r for r in _lines(out) if r["outcome"] != "success"]
    assert denied["outcome"] == "denied"
    assert denied["action"] == "create"
    assert denied["reason"]["reasonCode"] == "403"
    assert denied["request_id"] == "req-x"


def test_as_of_shows_the_state_then_not_now(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    server = cloud.boot("vm1")
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    cloud.services.update_server(str(server), "renamed", None, cloud.member)
    code, out, _ = _run(capsys, "as-of", between, "--resource", str(server))
    assert code == 0, out
    (then,) = _lines(out)
    assert then["attributes"]["name"] == "vm1"
    assert then["type"] == "server"
    _, out, _ = _run(capsys, "as-of", datetime.now(UTC).isoformat(), "--project", cloud.project_id)
    now = {r["id"]: r for r in _lines(out)}
    assert now[str(server)]["attributes"]["name"] == "renamed"
    assert all(r["type"] != "flavor" for r in now.values())  # flavors are nobody's project's


def test_as_of_hides_password_hashes(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    cloud.services.create_user(CreateUser("alice", "s3cret-pw", "demo"), SYSTEM)
    code, out, _ = _run(capsys, "as-of", datetime.now(UTC).isoformat())
    assert code == 0
    users = [r for r in _lines(out) if r["type"] == "user"]
    (alice,) = [r for r in users if r["attributes"].get("name") == "alice"]
    assert alice["attributes"]["password_hash"] == "<redacted>"
    assert "s3cret-pw" not in out  # PlainHasher's "hash" holds the password itself


def test_bad_input_is_a_clear_message_and_exit_2(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, message in [
        (["--since", "yesterday"], "is not an ISO 8601 time"),
        (["as-of", "noon"], "is not an ISO 8601 time"),
        (["--resource", "vm1"], "is not a resource id"),
        (["--type", "spaceship"], "unknown resource type"),
        (["--limit", "-1"], "--limit must be"),
        (["history", "vm1"], "is not a resource id"),
        (["as-of", "2026-12-02T10:00:00Z", "--resource", "vm1"], "is not a resource id"),
        (["--since", "2026-12-02T10:00:00Z", "--until", "2026-12-01T10:00:00Z"], "since is after"),
    ]:
        code, _, err = _run(capsys, *argv)
        assert code == 2, argv
        assert message in err and "Traceback" not in err


def test_an_unreachable_ledger_is_a_message_and_exit_3(
    cloud: Cloud, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    code, _, err = _run(capsys, "verify")
    assert code == 3
    assert "cannot read the ledger" in err and "Traceback" not in err


def test_an_unknown_resource_says_so_with_exit_1(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = str(uuid4())
    code, _, err = _run(capsys, "history", unknown)
    assert code == 1
    assert f"nothing recorded about resource {unknown}" in err
    code, _, err = _run(capsys, "as-of", "2000-01-01T00:00:00Z", "--resource", unknown)
    assert code == 1
    assert "no resource" in err


@pytest.mark.parametrize("version", [1, 2])
def test_as_of_a_stream_with_a_hole_says_where_not_a_traceback(
    cloud: Cloud, capsys: pytest.CaptureFixture[str], version: int
) -> None:
    server = cloud.boot("vm1")
    cloud.action("lock", server)
    cloud.action("unlock", server)
    with psycopg.connect(cloud.database_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM cloudledger_events WHERE originator_id = %s AND originator_version = %s",
            (server, version),
        )
    code, _, err = _run(capsys, "as-of", datetime.now(UTC).isoformat(), "--resource", str(server))
    assert code == 2
    assert f"of resource {server} does not follow the one before" in err
