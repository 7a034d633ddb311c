"""`cloudledger ledger stats` on real PostgreSQL, checked against the same
figures counted in Python from the decoded log: events and streams per
aggregate type (a stream counts under its first event's aggregate), the
longest streams, and events per month of their own timestamps."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from commands.app import CloudApp
from commands.bootstrap import build_app
from ops.cli import main
from ops.generate import Plan, generate
from projections.bootstrap import postgres_recorder


@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudApp]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))
    app = build_app(database_url)
    generate(app, Plan(3000, projects=5, hosts=3, days=75))
    yield app
    app.close()


def _stats(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["ledger", "stats", "--json", *args]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def _decoded(app: CloudApp) -> list[Any]:
    notifications = postgres_recorder(app).select_notifications(start=1, limit=1_000_000)
    return [app.mapper.to_domain_event(n) for n in notifications]


def test_events_per_aggregate_type_count_each_stream_under_its_first_event(
    app: CloudApp, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _decoded(app)
    kind = {
        e.originator_id: e.originator_topic.split(":")[1]
        for e in events
        if e.originator_version == 1
    }
    expected_events = Counter(kind[e.originator_id] for e in events)
    expected_streams = Counter(kind.values())

    stats = _stats(capsys)

    assert stats["events"] == len(events) == stats["head"]
    by_type = {t["aggregate"]: (t["streams"], t["events"]) for t in stats["by_type"]}
    assert by_type == {k: (expected_streams[k], n) for k, n in expected_events.items()}
    assert "Resizing" not in by_type  # resize events count under Instance


def test_the_longest_streams_come_first(app: CloudApp, capsys: pytest.CaptureFixture[str]) -> None:
    lengths = Counter(str(e.originator_id) for e in _decoded(app))
    expected = sorted(lengths.items(), key=lambda item: (-item[1], item[0]))[:4]

    longest = _stats(capsys, "--top", "4")["longest"]

    assert [(s["originator_id"], s["events"]) for s in longest] == expected
    assert all(s["version"] == s["events"] for s in longest)
    assert {s["aggregate"] for s in longest} <= {"ComputeHost", "Quota"}  # the hot ones


def test_events_per_month_follow_their_timestamps(
    app: CloudApp, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = Counter(e.timestamp.strftime("%Y-%m") for e in _decoded(app))

    by_month = _stats(capsys)["by_period"]

    assert {p["period"]: p["events"] for p in by_month} == expected
    assert len(expected) >= 3
    by_day = _stats(capsys, "--by", "day")["by_period"]
    assert sum(p["events"] for p in by_day) == sum(expected.values())
    assert len(by_day) > 60


def test_it_counts_without_decoding(app: CloudApp, capsys: pytest.CaptureFixture[str]) -> None:
    odd = StoredEvent("0b5c2b5e-7f4e-4d2b-9c7a-3e2f8f1d6a02", 1, "gone.module:Thing.Made", b"\x00?")
    postgres_recorder(app).insert_events([odd])

    stats = _stats(capsys)

    assert {"aggregate": "Thing", "streams": 1, "events": 1} in stats["by_type"]
    assert {"period": "unknown", "events": 1} in stats["by_period"]


def test_the_table_names_every_section(app: CloudApp, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "stats"]) == 0
    out = capsys.readouterr().out
    for heading in ("events by aggregate type:", "longest streams:", "events by their timestamps:"):
        assert heading in out
    assert main(["ledger", "stats", "--top", "-1"]) == 2
