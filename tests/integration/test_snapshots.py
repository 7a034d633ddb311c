"""Snapshots of the hot aggregates (quotas, hosts) on real PostgreSQL: loading
one reads its latest snapshot and at most an interval of events, however
long its history; the state equals a full replay; and snapshots stay out of
the notification log, the hash chain and the projections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.application import project_aggregate
from helpers import Cloud, build_cloud, es_env

from commands.app import CloudApp
from commands.bootstrap import build_app
from domain.host import ComputeHost
from domain.quota import Quota
from domain.values import SYSTEM
from projections.bootstrap import Projector, build_view
from projections.group import ViewGroup
from projections.quotas import QuotasView

INTERVAL = 200  # as commands/app.py snapshots quotas and hosts


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


class EventsRead:
    """Counts the stored events an application's repository reads (a real
    recorder underneath; only its read methods are wrapped, by instance)."""

    def __init__(self, app: CloudApp) -> None:
        self.count = 0
        recorder = app.events.recorder
        for name in ("select_events", "select_many"):
            setattr(recorder, name, self._counting(getattr(recorder, name)))

    def _counting(self, read: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            found = read(*args, **kwargs)
            values = found.values() if isinstance(found, dict) else [found]
            self.count += sum(len(v) for v in values)
            return found

        return counted


def _grow_quota(cloud: Cloud, reservations: int) -> None:
    """Two events per reservation (reserve, release), one save each."""
    quota = cloud.quota()
    for n in range(reservations):
        quota.reserve(f"consumer-{n}", {"ram": 1}, cloud.member)
        cloud.app.save(quota)
        quota.release(f"consumer-{n}", cloud.member)
        cloud.app.save(quota)


def _events_read_to_load(database_url: str, load: Callable[[CloudApp], Any]) -> tuple[int, Any]:
    """In a fresh process's application (no cache): events read, and what loaded."""
    app = build_app(database_url)
    try:
        reads = EventsRead(app)
        loaded = load(app)
        return reads.count, loaded
    finally:
        app.close()


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_loading_a_quota_reads_at_most_an_interval_of_events_however_long_it_grows(
    cloud: Cloud,
) -> None:
    quota_id = Quota.create_id(cloud.project_id)
    read_at: dict[int, int] = {}  # version -> events read to load it
    for reservations in (150, 300, 450):  # 300, 900 and 1800 events in all
        _grow_quota(cloud, reservations)
        version = cloud.quota().version
        count, loaded = _events_read_to_load(
            cloud.database_url, lambda app: app.repository.get(quota_id)
        )
        read_at[version] = count
        assert loaded.version == version
        assert _state(loaded) == _state(project_aggregate(None, cloud.app.events.get(quota_id)))
    assert all(count < INTERVAL for count in read_at.values()), read_at


def test_a_batch_load_of_hosts_reads_from_their_snapshots(cloud: Cloud) -> None:
    names = ("compute-1", "compute-2")
    for name in names:
        cloud.register_host(name, vcpus=64, ram_mb=65536)
        host = cloud.host(name)
        for n in range(2 * INTERVAL):
            host.claim(f"instance-{n}", 1, 1, 0, SYSTEM)
            host.release(f"instance-{n}", SYSTEM)
        host.claim("kept", 2, 256, 1, SYSTEM)
        cloud.app.save(host)  # one save: snapshots at each multiple of the interval
    ids = [ComputeHost.create_id(name) for name in names]

    count, loaded = _events_read_to_load(
        cloud.database_url, lambda app: app.repository.get_many(ids)
    )

    assert count == 2 * 2  # the events after each snapshot: the last release and the claim
    for host_id in ids:
        assert loaded[host_id].claims == {"kept": [2, 256, 1]}
        assert _state(loaded[host_id]) == _state(
            project_aggregate(None, cloud.app.events.get(host_id))
        )


def _count(database_url: str, statement: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(statement).fetchone()
    assert row is not None
    return int(row[0])


def test_snapshots_are_not_events(cloud: Cloud) -> None:
    before = _count(cloud.database_url, "SELECT count(*) FROM cloudledger_events")
    _grow_quota(cloud, 2 * INTERVAL)
    quota_id = Quota.create_id(cloud.project_id)
    assert len(list(cloud.app.snapshots.get(quota_id))) >= 2  # type: ignore[union-attr]

    events = _count(cloud.database_url, "SELECT count(*) FROM cloudledger_events")
    assert events == before + 4 * INTERVAL  # only the events were appended
    assert _count(cloud.database_url, "SELECT count(*) FROM cloudledger_events_chain") == events
    # The quotas projection, fed from the log, agrees with the aggregate.
    view = build_view(QuotasView, es_env(cloud.database_url))
    try:
        Projector(cloud.app, ViewGroup(view.datastore, [view]), cloud.database_url).catch_up()
        shown = view.for_project(cloud.project_id)
    finally:
        view.datastore.close()
    assert {r: v["in_use"] for r, v in shown.items()} == cloud.quota().in_use
