"""The ledger's append on real PostgreSQL: a huge append never stalls other
writers, every session has time limits, and a writer stuck behind the lock
fails alone within them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from helpers import Cloud, build_cloud

from commands.app import CloudApp
from commands.bootstrap import DatabaseLimits, build_app, eventsourcing_env
from domain.image import Image
from domain.values import SYSTEM
from projections.bootstrap import build_view, postgres_recorder
from projections.images import ImagesView
from projections.reader import Query

LIMITS = DatabaseLimits(
    statement_timeout_s=2.0, lock_timeout_s=0.5, idle_in_transaction_timeout_s=1
)


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


@pytest.fixture
def limited_app(database_url: str) -> Iterator[CloudApp]:
    app = build_app(database_url, limits=LIMITS)
    yield app
    app.close()


def _image(properties: dict[str, str]) -> Image:
    """An image built past the command's checks: the store must cope regardless."""
    return Image("p", "img", "qcow2", "bare", "private", 0, 0, properties, SYSTEM)


def _small_writes(app: CloudApp, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        app.save(_image({}))
        latencies.append(time.monotonic() - started)


def test_an_8_mb_append_completes_while_other_writers_carry_on(cloud: Cloud) -> None:
    """The wedge: ~8.5 MB of properties in one event. Through the library's
    pipelined append this left the session in ClientRead holding the lock."""
    big = _image({f"k{i}": "x" * 65_000 for i in range(130)})
    stop, latencies = threading.Event(), list[float]()
    writer = threading.Thread(target=_small_writes, args=(cloud.app, stop, latencies), daemon=True)
    writer.start()
    try:
        done = threading.Event()
        saver = threading.Thread(target=lambda: (cloud.app.save(big), done.set()), daemon=True)
        started = time.monotonic()
        saver.start()
        assert done.wait(30), "the 8 MB append never completed"
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        writer.join(5)
    assert not writer.is_alive(), "a small write is stuck behind the big one"

    reloaded: Image = cloud.app.repository.get(big.id)
    assert len(reloaded.properties) == 130
    assert elapsed < 10
    assert len(latencies) > 5
    assert max(latencies) < 2.0, f"small writes waited {max(latencies):.2f} s behind the big one"


def test_one_save_of_several_aggregates_gets_ordered_notification_ids(cloud: Cloud) -> None:
    images = [_image({"n": str(n)}) for n in range(5)]
    before = cloud.last_notification_id()

    recordings = cloud.app.save(*images)

    ids = [r.notification.id for r in recordings]
    assert ids == list(range(before + 1, before + 6))
    stored = postgres_recorder(cloud.app).select_notifications(start=before + 1, limit=10)
    assert [n.originator_id for n in stored] == [i.id for i in images]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("statement_timeout", "2s"),
        ("lock_timeout", "500ms"),
        ("idle_in_transaction_session_timeout", "1s"),
    ],
)
def test_every_session_has_the_configured_time_limits(
    limited_app: CloudApp, database_url: str, setting: str, expected: str
) -> None:
    view = build_view(ImagesView, eventsourcing_env(database_url, limits=LIMITS))
    try:
        for datastore in (postgres_recorder(limited_app).datastore, view.datastore):
            with datastore.get_connection() as conn:
                row = conn.execute(f"SHOW {setting}").fetchone()
            assert row is not None and row[setting] == expected
    finally:
        view.datastore.close()


def test_a_writer_behind_a_held_lock_fails_within_the_lock_timeout(
    limited_app: CloudApp, database_url: str
) -> None:
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE cloudledger_events IN EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(OperationalError):
            limited_app.save(_image({}))
        waited = time.monotonic() - started
        holder.rollback()

    assert 0.4 < waited < 2.0
    limited_app.save(_image({}))  # the lock gone, writes go through again


def test_a_statement_running_past_the_timeout_is_cancelled(database_url: str) -> None:
    view = build_view(ImagesView, eventsourcing_env(database_url, limits=LIMITS))
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError):
            view.fetch_all(Query("SELECT pg_sleep(30)"))
        assert time.monotonic() - started < 5
    finally:
        view.datastore.close()


def test_an_idle_transaction_holding_the_lock_is_ended_by_the_server(
    limited_app: CloudApp,
) -> None:
    """One of our sessions that stops mid-transaction (a hung thread) loses its lock."""
    datastore = postgres_recorder(limited_app).datastore
    with datastore.get_connection() as stuck:
        stuck.execute("BEGIN")
        stuck.execute("LOCK TABLE cloudledger_events IN EXCLUSIVE MODE")
        time.sleep(1.5)  # past the idle-in-transaction limit: the server ends it

        limited_app.save(_image({"after": uuid4().hex}))

        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            stuck.execute("SELECT 1")
