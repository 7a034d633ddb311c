"""The relay: follows the event log and turns events into RQ jobs.

Every job it owes is first written to ``relay_pending`` in the same
transaction as its tracking position, and only then enqueued, with a job id
derived from the event (``spawn_<instance>_<version>``). A job leaves the table
when a later event of the same aggregate shows the work was done. So neither a
relay crash between append and enqueue nor a flushed Redis loses a command:
``reconcile`` re-enqueues whatever is pending but missing from Redis."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any, ClassVar

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from redis import Redis, RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job

from domain.instance import LIFECYCLE_EVENTS, Instance
from projections.view import ProjectionView, topics_of
from workers import retries

log = logging.getLogger(__name__)

JOBS = "workers.jobs"


@dataclass(frozen=True)
class PendingJob:
    """A job the relay owes to a queue."""

    job_id: str
    queue: str
    func: str
    args: tuple[str, ...]


class Relay(ProjectionView):
    """Event log -> RQ jobs, at least once, with idempotent job ids."""

    name = "relay"
    topics = topics_of(*LIFECYCLE_EVENTS)
    ddl: ClassVar[tuple[str, ...]] = (
        """CREATE TABLE IF NOT EXISTS relay_pending (
            job_id text PRIMARY KEY, aggregate_id uuid NOT NULL, version int NOT NULL,
            queue text NOT NULL, func text NOT NULL, args jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())""",
        "CREATE INDEX IF NOT EXISTS relay_pending_by_aggregate "
        "ON relay_pending (aggregate_id, version)",
        """CREATE TABLE IF NOT EXISTS relay_instance_hosts (
            instance_id uuid PRIMARY KEY, host text NOT NULL)""",
    )

    redis: Redis | None = None
    _owed: list[PendingJob]

    def apply_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        self._owed = []
        position = super().apply_batch(events)
        try:
            self.enqueue(self._owed)
        except RedisError as exc:
            # Owed in relay_pending already: reconcile pushes them once Redis is back.
            log.warning("Redis unavailable; %d jobs wait for reconcile: %s", len(self._owed), exc)
        return position

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Result events only complete earlier jobs (see _complete)."""
        self._complete(event, cur)

    @apply.register
    def _(self, e: Instance.Requested, cur: Cursor[DictRow]) -> None:
        self._owe(cur, e, "schedule", "scheduler", "scheduler.schedule_instance")

    @apply.register
    def _(self, e: Instance.Scheduled, cur: Cursor[DictRow]) -> None:
        self._complete(e, cur)
        cur.execute(
            "INSERT INTO relay_instance_hosts VALUES (%s, %s) "
            "ON CONFLICT (instance_id) DO UPDATE SET host=EXCLUDED.host",
            (e.originator_id, e.host),
        )
        self._owe(cur, e, "spawn", f"compute.{e.host}", "compute.spawn_instance")

    @apply.register
    def _(self, e: Instance.StopRequested, cur: Cursor[DictRow]) -> None:
        self._owe_on_host(cur, e, "stop", "compute.stop_instance")

    @apply.register
    def _(self, e: Instance.StartRequested, cur: Cursor[DictRow]) -> None:
        self._owe_on_host(cur, e, "start", "compute.start_instance")

    @apply.register
    def _(self, e: Instance.DeleteRequested, cur: Cursor[DictRow]) -> None:
        self._owe_on_host(cur, e, "delete", "compute.delete_instance")

    @apply.register
    def _(self, e: Instance.Deleted, cur: Cursor[DictRow]) -> None:
        self._complete(e, cur)
        # Nothing more will be asked of a deleted instance's host: forget it,
        # so this table holds live instances only.
        cur.execute("DELETE FROM relay_instance_hosts WHERE instance_id=%s", (e.originator_id,))

    def _owe_on_host(self, cur: Cursor[DictRow], e: Any, kind: str, func: str) -> None:
        self._complete(e, cur)
        cur.execute(
            "SELECT host FROM relay_instance_hosts WHERE instance_id=%s", (e.originator_id,)
        )
        row = cur.fetchone()
        if row is not None:  # no host: the command handler finished the work itself
            self._owe(cur, e, kind, f"compute.{row['host']}", func)

    def _owe(self, cur: Cursor[DictRow], e: Any, kind: str, queue: str, func: str) -> None:
        job = PendingJob(
            f"{kind}_{e.originator_id}_{e.originator_version}",
            queue,
            f"{JOBS}.{func}",
            (str(e.originator_id),),
        )
        cur.execute(
            "INSERT INTO relay_pending (job_id, aggregate_id, version, queue, func, args) "
            "VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (job_id) DO NOTHING",
            (
                job.job_id,
                e.originator_id,
                e.originator_version,
                job.queue,
                job.func,
                Jsonb(job.args),
            ),
        )
        self._owed.append(job)

    def _complete(self, e: Any, cur: Cursor[DictRow]) -> None:
        """Any newer event on the aggregate means its earlier job has run."""
        cur.execute(
            "DELETE FROM relay_pending WHERE aggregate_id=%s AND version < %s",
            (e.originator_id, e.originator_version),
        )
        marker = f"_{e.originator_id}_"
        self._owed = [job for job in self._owed if marker not in job.job_id]

    def enqueue(self, jobs: Sequence[PendingJob]) -> int:
        """Push jobs whose id is not already in Redis; returns how many were pushed."""
        assert self.redis is not None, "Relay.redis must be set before relaying"
        pushed = 0
        for job in jobs:
            try:
                Queue(job.queue, connection=self.redis).enqueue_call(
                    func=job.func,
                    args=job.args,
                    job_id=job.job_id,
                    unique=True,  # a failure is retried by reconcile (workers/retries.py)
                    result_ttl=3600,
                    failure_ttl=7 * 86400,
                )
                pushed += 1
            except DuplicateJobError:
                pass
        return pushed

    def pending(self, older_than_seconds: float = 0) -> list[PendingJob]:
        rows = self.fetch_all(
            "SELECT job_id, queue, func, args FROM relay_pending "
            "WHERE created_at < now() - make_interval(secs => %s) ORDER BY created_at, job_id",
            (older_than_seconds,),
        )
        return [PendingJob(r["job_id"], r["queue"], r["func"], tuple(r["args"])) for r in rows]

    def reconcile(self, older_than_seconds: float = 0) -> int:
        """Re-enqueue owed jobs that Redis has lost (flushed, restarted, or
        never got), and re-run owed jobs that failed. Returns how many jobs
        it pushed."""
        assert self.redis is not None
        pending = self.pending(older_than_seconds)
        with self.redis.pipeline(transaction=False) as pipe:
            for job in pending:
                pipe.hget(Job.key_for(job.job_id), "status")
            statuses = pipe.execute()
        missing = [job for job, status in zip(pending, statuses, strict=True) if status is None]
        if missing:
            log.warning("re-enqueueing %d jobs missing from Redis", len(missing))
        failed = [job.job_id for job, s in zip(pending, statuses, strict=True) if s == b"failed"]
        return self.enqueue(missing) + self._retry_failed(failed)

    def _retry_failed(self, job_ids: Sequence[str]) -> int:
        """Run failed owed jobs again, each less often the more it has failed."""
        assert self.redis is not None
        now, retried = time.time(), 0
        for job_id in job_ids:
            job = Job.fetch(job_id, connection=self.redis)
            if retries.due(job, now):
                log.warning(
                    "re-running %s after %d failures", job_id, retries.retries_so_far(job) + 1
                )
                retries.run_again(job)
                retried += 1
        return retried
