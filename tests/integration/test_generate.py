"""`cloudledger ops generate` on real PostgreSQL: the synthetic ledger's hash
chain verifies, billing reads its simulated months, hot aggregates get their
snapshots (and only events reach the log), and it appends only when told."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.application import project_aggregate

from commands.app import CloudApp
from commands.bootstrap import build_app
from domain.host import ComputeHost
from domain.metering import usage_lines
from ops.billing_replay import replay
from ops.cli import main
from ops.generate import START, Plan, generate
from projections.bootstrap import postgres_recorder


@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudApp]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))
    app = build_app(database_url)
    yield app
    app.close()


def _count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_generated_ledger_verifies(
    app: CloudApp, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ops", "generate", "--events", "3000", "--projects", "8", "--apply"]) == 0
    generated = int(capsys.readouterr().out.split("generated ")[1].split()[0])
    assert 3000 <= generated < 3020  # an operation's events are never split

    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{generated} events checked" in out and "the ledger matches what was appended" in out


def test_without_apply_nothing_is_appended(
    app: CloudApp, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ops", "generate", "--events", "3000"]) == 0
    assert "add --apply" in capsys.readouterr().out
    assert _count(database_url, "cloudledger_events") == 0


def test_bad_arguments_are_refused(app: CloudApp, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "generate", "--events", "0", "--apply"]) == 2
    assert main(["ops", "generate", "--events", "9", "--start", "soon", "--apply"]) == 2
    assert "--start" in capsys.readouterr().err


def test_the_same_seed_twice_is_refused_and_appends_nothing(
    app: CloudApp, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(app, Plan(500, projects=3, seed=9))
    before = _count(database_url, "cloudledger_events")

    assert (
        main(["ops", "generate", "--events", "500", "--projects", "3", "--seed", "9", "--apply"])
        == 1
    )
    assert "cannot append" in capsys.readouterr().err
    assert _count(database_url, "cloudledger_events") == before


def test_billing_reads_the_simulated_months(app: CloudApp) -> None:
    generate(app, Plan(4000, projects=6, days=120))
    recorder = postgres_recorder(app)
    before = replay(recorder, app.mapper, START - timedelta(days=365), START)
    during = replay(recorder, app.mapper, START, START + timedelta(days=130))

    assert usage_lines(before.metering, START) == []
    lines = usage_lines(during.metering, START + timedelta(days=130))
    months = {line.started_at.month for line in lines}
    assert len(months) >= 3, months  # resources began in at least three months


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_hot_aggregates_get_snapshots_that_are_not_events(app: CloudApp, database_url: str) -> None:
    made = generate(app, Plan(4000, projects=4, hosts=2))
    host_id = ComputeHost.create_id("sim1-host-00")

    snapshots = [s.originator_version for s in app.snapshots.get(host_id)]
    assert snapshots and all(v % 200 == 0 for v in snapshots)
    loaded = app.repository.get(host_id)
    assert _state(loaded) == _state(project_aggregate(None, app.events.get(host_id)))
    # Only the events are in the log and the chain; the snapshots are beside them.
    assert _count(database_url, "cloudledger_events") == made.events
    assert _count(database_url, "cloudledger_events_chain") == made.events
    assert _count(database_url, "cloudledger_snapshots") >= len(snapshots)
