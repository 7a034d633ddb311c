"""`cloudledger billing` as an operator runs it (a process of its own) on a
ledger with real history: deterministic output, credits as new events, and
bad input answered with a message and a non-zero status, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import build_cloud, build_relay, hosts_projector
from test_resize import SOURCE, Hosts, booted

EXAMPLE_RATES = Path(__file__).parents[2] / "ops" / "rates.example.yaml"


@pytest.fixture
def rig(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Hosts]:
    cloud = build_cloud(database_url, tmp_path / "images")
    view, projector = hosts_projector(cloud)
    relay = build_relay(cloud.app, cloud.database_url, redis_url)
    hosts = Hosts(cloud, relay, view, projector, {}, redis_url, tmp_path)
    hosts.add_host(SOURCE, ram_mb=8192)
    yield hosts
    relay.relay.datastore.close()
    view.datastore.close()
    cloud.app.close()


def _billing(rig: Hosts, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLOUDLEDGER_DATABASE_URL": rig.cloud.database_url,
        "CLOUDLEDGER_STATE_DIR": str(rig.tmp_path / "state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "billing", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _period() -> list[str]:
    now = datetime.now(UTC)
    return ["--from", (now - timedelta(hours=1)).isoformat(), "--to", now.isoformat()]


def test_two_replays_print_the_same_bytes_and_append_nothing(rig: Hosts) -> None:
    iid = booted(rig)
    rig.cloud.action("stop", iid)
    rig.pump()
    period = _period()
    head = rig.cloud.last_notification_id()

    first = _billing(rig, "usage", *period, "--format", "json")
    second = _billing(rig, "usage", *period, "--format", "json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert rig.cloud.last_notification_id() == head  # a replay changes nothing
    (project,) = [
        p for p in json.loads(first.stdout)["projects"] if p["stretches"][0]["kind"] == "instance"
    ]
    assert [(s["product"], s["state"]) for s in project["stretches"]] == [
        ("m1.tiny", "active"),
        ("m1.tiny", "stopped"),
    ]
    only = _billing(rig, "usage", *period, "--project", "nobody", "--format", "json")
    assert json.loads(only.stdout)["projects"] == []
    for fmt in ("table", "csv"):
        shown = [_billing(rig, "usage", *period, "--format", fmt).stdout for _ in range(2)]
        assert shown[0] == shown[1] and str(iid) in shown[0]


def test_a_credit_is_a_new_event_and_the_next_invoice_shows_it_negative(rig: Hosts) -> None:
    booted(rig)
    project = rig.cloud.project_id
    credit = (
        "credit", "--project", project, "--amount", "10.00", "--currency", "EUR",
        "--reason", "outage on compute-1", "--reference", "INC-1",
    )  # fmt: skip
    credited = _billing(rig, *credit)
    assert credited.returncode == 0, credited.stderr
    head = rig.cloud.last_notification_id()
    again = _billing(rig, *credit)  # run twice by mistake: credited once
    assert again.returncode == 0 and "already credited: INC-1" in again.stdout
    assert rig.cloud.last_notification_id() == head
    invoice = _billing(
        rig, "invoice", *_period(), "--rates", str(EXAMPLE_RATES), "--format", "json"
    )
    assert invoice.returncode == 0, invoice.stderr
    lines = json.loads(invoice.stdout)["lines"]
    mine = [x for x in lines if x["project_id"] == project]
    assert [x["kind"] for x in mine] == ["instance", *["meter"] * 3, "credit"]
    assert [x["item"] for x in mine[1:-1]] == [
        "vcpu_hours",
        "ram_mb_hours",
        "root_gb_hours",
    ]  # fmt: skip: m1.tiny has no ephemeral disk, so no line
    assert mine[0]["item"] == "m1.tiny active"
    assert mine[-1] == {
        "project_id": project, "kind": "credit", "item": "outage on compute-1",
        "quantity": "1", "unit": "credit", "rate": "-10.00", "amount": "-10.00",
    }  # fmt: skip
    table = _billing(rig, "invoice", *_period(), "--rates", str(EXAMPLE_RATES))
    assert "outage on compute-1" in table.stdout and "in EUR" in table.stdout


def test_a_period_with_no_events_is_an_empty_well_formed_invoice(rig: Hosts) -> None:
    period = ["--from", "2001-01-01", "--to", "2001-02-01"]
    shown = _billing(rig, "invoice", *period, "--rates", str(EXAMPLE_RATES), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "currency": "EUR", "start": "2001-01-01T00:00:00.000000Z",
        "stop": "2001-02-01T00:00:00.000000Z", "lines": [], "projects": [], "total": "0.00",
    }  # fmt: skip
    csv = _billing(rig, "invoice", *period, "--rates", str(EXAMPLE_RATES), "--format", "csv")
    assert csv.stdout == "project_id,kind,item,quantity,unit,rate,amount\n,total,,,,,0.00\n"


def test_bad_input_is_a_clear_message_and_a_non_zero_status(rig: Hosts, tmp_path: Path) -> None:
    booted(rig)
    broken = tmp_path / "broken.yaml"
    broken.write_text("currency: EUR\nflavors: [unclosed\n")
    no_tiny = tmp_path / "no-tiny.yaml"
    no_tiny.write_text(EXAMPLE_RATES.read_text().replace("m1.tiny:", "m1.nano:"))
    cases = {
        ("usage", "--from", "2026-02-01", "--to", "2026-01-01"): "--from must not be after --to",
        ("usage", "--from", "yesterday", "--to", "2026-01-01"): "Invalid --from time",
        ("invoice", *_period(), "--rates", str(tmp_path / "none.yaml")): "Cannot read",
        ("invoice", *_period(), "--rates", str(broken)): "not valid YAML",
        ("invoice", *_period(), "--rates", str(no_tiny)): "no rate for flavor 'm1.tiny'",
        ("credit", "--project", "p", "--amount", "-3", "--currency", "EUR", "--reason", "x"): (
            "Amount must be above 0"
        ),
        ("credit", "--project", "p", "--amount", "3", "--currency", "euro", "--reason", "x"): (
            "Invalid currency"
        ),
        ("credit", "--project", "0" * 32, "--amount", "3", "--currency", "EUR", "--reason", "x"): (
            f"Project {'0' * 32} could not be found."
        ),
    }
    for args, message in cases.items():
        shown = _billing(rig, *args)
        assert shown.returncode == 2, (args, shown.stdout, shown.stderr)
        assert message in shown.stderr, (args, shown.stderr)
        assert "Traceback" not in shown.stderr


def test_the_bench_appends_only_when_told_and_times_the_replay(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CLOUDLEDGER_DATABASE_URL": database_url,
        "CLOUDLEDGER_STATE_DIR": str(tmp_path / "state"),
    }

    def bench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ops.cli", "billing", "bench", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    dry = bench("--generate", "500")
    assert dry.returncode == 0 and "add --apply" in dry.stdout, dry.stderr
    done = bench("--generate", "500", "--apply")
    assert done.returncode == 0, done.stderr
    generated = int(done.stdout.split("generated ")[1].split()[0])
    assert generated >= 500
    assert f"billing replay: {generated} events in the ledger" in done.stdout
