"""`cloudledger projections rebuild | verify | status` on real PostgreSQL,
with the real projector running and commands arriving meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.utils import get_topic
from helpers import Cloud, build_cloud, es_env, execute, follower_for, rows, tracked_position

from commands import compute
from commands.host_aggregates import CreateHostAggregate, create_aggregate
from commands.keypairs import CreateKeypair, create_keypair
from domain.host_aggregate import HostAggregate
from domain.instance import NO_VALID_HOST
from domain.keypair import Keypair
from domain.values import Actor
from ops.cli import main
from ops.generate import Plan, generate
from projections.bootstrap import Projector, build_group, build_view, postgres_recorder
from projections.rebuild import ShadowBuild, rebuild
from projections.registry import VIEW_CLASSES
from projections.servers import ServersView
from projections.shadow import view_tables

HISTORY_EVENTS = 20_000  # enough that a rebuild takes a while, with writes meanwhile
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cloud(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    cloud = build_cloud(database_url, tmp_path / "images")
    cloud.set_quota(instances=1_000_000, cores=1_000_000)
    yield cloud
    cloud.app.close()


@contextmanager
def running_projector(cloud: Cloud) -> Iterator[None]:
    """The projector process's parts, in a thread, until the block ends and
    it has caught up with everything recorded."""
    group = build_group(es_env(cloud.database_url))
    stop = threading.Event()
    thread = threading.Thread(
        target=Projector(cloud.app, group, cloud.database_url).run, args=(stop,)
    )
    thread.start()
    try:
        yield
        # A deadline, not a cost: a 40-minute run under load 20 once needed more than 60 s.
        _wait_for(lambda: _servers_position(cloud) >= _last_of(cloud, group.topics), 180)
    finally:
        stop.set()
        thread.join()
        group.datastore.close()


@contextmanager
def commands_arriving(cloud: Cloud) -> Iterator[list[int]]:
    """Boots (an INSERT in the servers view) and failures (an UPDATE) in a
    thread until the block ends; yields the list of servers booted so far."""
    booted: list[int] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            iid = cloud.boot(f"late-{len(booted)}")
            compute.fail_instance(cloud.app, iid, NO_VALID_HOST)
            booted.append(1)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield booted
    finally:
        stop.set()
        thread.join()


@contextmanager
def reading_live_tables(cloud: Cloud) -> Iterator[list[str]]:
    """A reader querying the live servers table as the API does (prepared
    statements included); yields the problems it met: an error, or fewer
    rows than it saw before (no row is removed, and the servers booted
    meanwhile fail but are not deleted, so a listing never shrinks)."""
    problems: list[str] = []
    stop = threading.Event()

    def read() -> None:
        seen = seen_listed = 0
        with psycopg.connect(cloud.database_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    row = conn.execute("SELECT count(*) FROM servers", prepare=True).fetchone()
                    listed = conn.execute(
                        "SELECT id FROM servers WHERE NOT deleted ORDER BY created_at DESC LIMIT 5",
                        prepare=True,
                    ).fetchall()
                except psycopg.Error as exc:
                    problems.append(f"read failed: {exc}")
                    continue
                count = int(row[0]) if row else 0
                if count < seen or len(listed) < seen_listed:
                    problems.append(f"{count} rows after {seen}, {len(listed)} listed")
                seen, seen_listed = max(seen, count), max(seen_listed, len(listed))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        yield problems
    finally:
        stop.set()
        thread.join()


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)


def _last_of(cloud: Cloud, topics: tuple[str, ...]) -> int:
    found = rows(
        cloud.database_url,
        "SELECT max(notification_id) AS n FROM cloudledger_events WHERE topic = ANY(%s)",
        [list(topics)],
    )
    return int(found[0]["n"] or 0)


def _servers_position(cloud: Cloud) -> int:
    return tracked_position(cloud.database_url, "servers") or 0


def _servers(cloud: Cloud) -> list[dict[str, Any]]:
    return rows(cloud.database_url, "SELECT * FROM servers ORDER BY id")


def _fresh_replay(cloud: Cloud) -> list[dict[str, Any]]:
    """The servers table as the projector's own code builds it from position
    0 (the projector stopped): the oracle a rebuild must match."""
    execute(
        cloud.database_url,
        "TRUNCATE servers",
        "DELETE FROM servers_tracking WHERE application_name = 'cloudledger'",
    )
    view = build_view(ServersView, es_env(cloud.database_url))
    try:
        follower_for(cloud.app, view, start_after=0).catch_up()
    finally:
        view.datastore.close()
    return _servers(cloud)


def _schemas(cloud: Cloud) -> set[str]:
    found = rows(cloud.database_url, "SELECT nspname FROM pg_namespace")
    return {row["nspname"] for row in found}


def test_a_rebuild_under_writes_and_reads_ends_as_a_fresh_replay(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(cloud.app, Plan(HISTORY_EVENTS))
    with running_projector(cloud):
        _wait_for(lambda: _servers_position(cloud) > 0, 30)
        with commands_arriving(cloud) as booted, reading_live_tables(cloud) as problems:
            _wait_for(lambda: len(booted) > 5, 30)
            assert main(["projections", "rebuild", "servers"]) == 0
            during = len(booted)
            _wait_for(lambda: len(booted) > during + 20, 30)  # the projector goes on
    assert problems == []
    assert "servers: rebuilt and swapped in at log position" in capsys.readouterr().out
    assert during > 5  # commands did arrive during the rebuild
    rebuilt = _servers(cloud)
    assert len(rebuilt) > HISTORY_EVENTS // 25
    assert rebuilt == _fresh_replay(cloud)
    assert not {s for s in _schemas(cloud) if s.startswith(("shadow_", "retired_"))}


def test_a_rebuild_of_every_projection_keeps_every_table(cloud: Cloud) -> None:
    cloud.register_host("compute-1")
    for name in ("a", "b"):
        iid = cloud.boot(name)
        assert compute.claim_host(cloud.app, iid, "compute-1")
        compute.finish_spawn(cloud.app, iid)
    tables = [t for cls in VIEW_CLASSES for t in view_tables(cls)]
    with running_projector(cloud):
        _wait_for(lambda: _servers_position(cloud) >= cloud.last_notification_id(), 30)
    before = _contents(cloud, tables)

    assert main(["projections", "rebuild", "--all"]) == 0

    assert _contents(cloud, tables) == before
    assert main(["projections", "verify", "--all"]) == 0


def _contents(cloud: Cloud, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {t: sorted(rows(cloud.database_url, f"SELECT * FROM {t}"), key=repr) for t in tables}


KILLABLE_REBUILD = """
import sys
from commands.bootstrap import build_app
from projections.bootstrap import postgres_recorder
from projections.log_pages import LogPages
from projections.rebuild import ShadowBuild, rebuild
from projections.servers import ServersView
from projections.shadow import view_tables

url = sys.argv[1]
app = build_app(url, pool_size=2)
recorder = postgres_recorder(app)
build = ShadowBuild(ServersView(recorder.datastore), url, recorder, app.mapper, "shadow_servers")
build.log = LogPages(recorder, app.mapper, ServersView.topics, page_size=50)
build.pages_per_commit = 1  # a commit every 50 events
rebuild(build)
"""


def test_a_rebuild_killed_by_sigkill_resumes_from_its_shadow(cloud: Cloud) -> None:
    generate(cloud.app, Plan(HISTORY_EVENTS))
    with running_projector(cloud):
        pass
    before = _servers(cloud)
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_REBUILD, cloud.database_url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        _wait_for(lambda: _shadow_position(cloud) > 1000, 60)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    # Its session may still commit what it had sent: wait until it has ended.
    _wait_for(
        lambda: not rows(cloud.database_url, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"),
        30,
    )
    killed_at = _shadow_position(cloud)
    assert 1000 < killed_at < cloud.last_notification_id()

    recorder = postgres_recorder(cloud.app)
    view = ServersView(recorder.datastore)
    build = ShadowBuild(view, cloud.database_url, recorder, cloud.app.mapper, "shadow_servers")
    done = rebuild(build)

    assert done.resumed_from == killed_at
    assert 0 < done.events < HISTORY_EVENTS - 1000
    assert _servers(cloud) == before == _fresh_replay(cloud)


def _shadow_position(cloud: Cloud) -> int:
    if "shadow_servers" not in _schemas(cloud):
        return 0
    try:
        found = rows(
            cloud.database_url, "SELECT notification_id FROM shadow_servers.servers_tracking"
        )
    except psycopg.errors.UndefinedTable:
        return 0
    return int(found[0]["notification_id"]) if found else 0


def test_verify_reports_a_live_row_edited_or_removed_behind_the_projector(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = cloud.boot("first"), cloud.boot("second")
    with running_projector(cloud):
        pass
    assert main(["projections", "verify", "servers"]) == 0
    assert "servers: identical" in capsys.readouterr().out

    execute(
        cloud.database_url,
        f"UPDATE servers SET name = 'tampered' WHERE id = '{first}'",
        f"DELETE FROM servers WHERE id = '{second}'",
    )
    assert main(["projections", "verify", "servers"]) == 1

    out = capsys.readouterr().out
    assert f'servers ["{first}"]: differs' in out
    assert f'servers ["{second}"]: only in the rebuild' in out
    assert "verify_servers" not in _schemas(cloud)


@pytest.mark.parametrize("action", ["rebuild", "verify"])
def test_an_unknown_projection_is_an_error(
    cloud: Cloud, action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["projections", action, "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown projection 'nosuch'" in err and "servers" in err


def test_status_shows_each_projection_behind_the_head_in_events_and_seconds(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.boot("a")
    with running_projector(cloud):
        pass
    cloud.boot("b")  # recorded, not projected: servers lag one boot behind
    time.sleep(1.1)  # ... and that boot is over a second old

    assert main(["projections", "status", "--window", "0.1"]) == 0

    out = capsys.readouterr().out
    head = cloud.last_notification_id()
    assert f"log head: {head}" in out
    [line] = [line for line in out.splitlines() if line.startswith("servers ")]
    _, position, lag, lag_seconds, rate = line.split()
    assert int(position) + int(lag) == head and int(lag) > 0
    assert float(lag_seconds) >= 1.0 and float(rate) == 0


def test_a_rebuild_keeps_the_integer_ids_the_api_shows(cloud: Cloud) -> None:
    """Aggregates and keypairs are shown with integer ids: each is its creation
    event's notification id, so a rebuild numbers them as the live view did."""
    admin = Actor("admin", "admin", ("admin",), "req-ids")
    for name in ("az-1", "az-2"):
        create_aggregate(CreateHostAggregate(name, name), cloud.app, admin)
    cloud.boot("between")  # ids with a gap between them
    create_keypair(CreateKeypair(cloud.member.user_id, "key-1"), cloud.app, cloud.member)
    with running_projector(cloud):
        pass
    _wait_for(lambda: tracked_position(cloud.database_url, "keypairs") is not None, 30)
    created = {
        str(r["originator_id"]): r["notification_id"]
        for r in rows(
            cloud.database_url,
            "SELECT originator_id, notification_id FROM cloudledger_events WHERE topic = ANY(%s)",
            ([get_topic(HostAggregate.Created), get_topic(Keypair.Created)],),
        )
    }
    query = "SELECT aggregate_id::text AS id, number FROM {} ORDER BY number"
    before = {t: rows(cloud.database_url, query.format(t)) for t in ("host_aggregates", "keypairs")}

    assert main(["projections", "rebuild", "host_aggregates"]) == 0
    assert main(["projections", "rebuild", "keypairs"]) == 0

    for table, live in before.items():
        assert rows(cloud.database_url, query.format(table)) == live
        assert {r["id"]: r["number"] for r in live} == {r["id"]: created[r["id"]] for r in live}
