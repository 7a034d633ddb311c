"""What GET /metrics reads from the shared stores when Prometheus scrapes:
events appended by type, each follower's lag, what the relay owes, RQ queue
depths, and jobs run and failed per worker role. So every API process shows
the whole pipeline, whichever process did the work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis, RedisError
from rq import Queue

from projections.lag import EVENTS_TABLE, head, read_lags
from workers import job_counts

log = logging.getLogger(__name__)

SCRAPE_CONNECT_TIMEOUT_S = 5


class EventCounts:
    """Events in the ledger by topic, counted once: each scrape counts only
    the events appended since the last (an index range), never the whole
    ledger again. Appends hold the table's lock until they commit, so once
    the head is seen every event below it is in, and counted exactly once."""

    def __init__(self) -> None:
        self.position = 0
        self.by_topic: dict[str, int] = {}
        self._lock = threading.Lock()  # scrapes may overlap

    def update(self, conn: psycopg.Connection[Any], last: int) -> dict[str, int]:
        with self._lock:
            if last < self.position:  # another ledger (a recreated database)
                self.position, self.by_topic = 0, {}
            if last > self.position:
                rows = conn.execute(
                    f"SELECT topic, count(*) FROM {EVENTS_TABLE}"
                    " WHERE notification_id > %s AND notification_id <= %s GROUP BY topic",
                    (self.position, last),
                ).fetchall()
                for topic, count in rows:
                    self.by_topic[topic] = self.by_topic.get(topic, 0) + int(count)
                self.position = last
            return dict(self.by_topic)


class PipelineCollector(Collector):
    """Reads PostgreSQL and Redis at each scrape; a store that cannot be
    reached is reported by ``cloudledger_metrics_source_up`` and skipped."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        decode: Callable[[StoredEvent], Any],
        libpq_options: str = "",
    ) -> None:
        self.database_url, self.libpq_options = database_url, libpq_options
        self.redis = Redis.from_url(redis_url, socket_timeout=SCRAPE_CONNECT_TIMEOUT_S)
        self.decode = decode
        self.events = EventCounts()

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "cloudledger_metrics_source_up",
            "Whether this scrape could read the store (1) or not (0).",
            labels=["source"],
        )
        for source, read in (("postgres", self._from_postgres), ("redis", self._from_redis)):
            try:
                families = list(read())
            except (psycopg.Error, RedisError) as exc:
                log.warning("metrics: cannot read %s: %s", source, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _from_postgres(self) -> Iterator[Any]:
        with psycopg.connect(
            self.database_url,
            connect_timeout=SCRAPE_CONNECT_TIMEOUT_S,
            options=self.libpq_options,
            autocommit=True,
        ) as conn:
            last = head(conn)
            appended = CounterMetricFamily(
                "cloudledger_events_appended",
                "Events appended to the ledger, by topic (every process's appends).",
                labels=["topic"],
            )
            for topic, count in sorted(self.events.update(conn, last).items()):
                appended.add_metric([topic], count)
            yield appended
            yield GaugeMetricFamily(
                "cloudledger_ledger_head", "The ledger's last notification id.", value=last
            )
            yield from _lag_families(read_lags(conn, self.decode))
            owed = conn.execute(
                "SELECT kind, queue, count(*) FROM relay_pending GROUP BY kind, queue"
            ).fetchall()
        pending = GaugeMetricFamily(
            "cloudledger_relay_pending",
            "Job items the relay owes and no worker has completed, by kind and queue.",
            labels=["kind", "queue"],
        )
        for kind, queue, count in owed:
            pending.add_metric([kind, queue], count)
        yield pending

    def _from_redis(self) -> Iterator[Any]:
        depth = GaugeMetricFamily(
            "cloudledger_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        for queue in sorted(Queue.all(connection=self.redis), key=lambda q: q.name):
            depth.add_metric([queue.name], queue.count)
        ran = CounterMetricFamily(
            "cloudledger_jobs_run", "Jobs run by workers of each role.", labels=["role"]
        )
        failed = CounterMetricFamily(
            "cloudledger_jobs_failed", "Jobs that failed, by worker role.", labels=["role"]
        )
        counts = job_counts.read(self.redis)
        for role in sorted({role for role, _ in counts}):
            ran.add_metric([role], counts.get((role, "run"), 0))
            failed.add_metric([role], counts.get((role, "failed"), 0))
        yield from (depth, ran, failed)


def _lag_families(lags: list[Any]) -> Iterator[Any]:
    events = GaugeMetricFamily(
        "cloudledger_projection_lag_events",
        "Events between the ledger's head and each read model's (or the relay's) position.",
        labels=["projection"],
    )
    seconds = GaugeMetricFamily(
        "cloudledger_projection_lag_seconds",
        "Age of the oldest event each read model (or the relay) has not applied yet.",
        labels=["projection"],
    )
    for lag in lags:
        events.add_metric([lag.name], lag.events)
        seconds.add_metric([lag.name], lag.seconds or 0.0)
    yield from (events, seconds)
