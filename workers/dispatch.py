"""The relay: follows the event log and turns events into RQ jobs, as the
routes in ``workers/routes.py`` declare.

Every job item it owes is first written to ``relay_pending`` in the same
transaction as its tracking position, and only then enqueued. All items a
batch of events owes on one queue go out as ONE RQ job (``batch_<n>_<queue>``,
n the batch's last notification id), whose id the rows keep. An item leaves
the table when a later event of its aggregate that its route names as a
completion arrives, or an event of an aggregate it waits on (a link, kept
in ``relay_links`` in the same transactions). So neither a relay crash
between append and enqueue nor a flushed Redis loses a command, nor a crash
between two steps of a flow across aggregates: ``reconcile`` re-enqueues
whatever is owed but missing from Redis, and runs failed batches again with
backoff."""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from redis import Redis, RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job

from projections.reader import Query
from projections.view import ProjectionView, topics_of
from workers import retries
from workers.coalesce import Coalescer, one_batch_id
from workers.declarations import Route, Via
from workers.relay_writes import OwedItem, RelayWrites
from workers.routes import ROUTING, Routing
from workers.rq_worker import REQUEST_IDS_META

log = logging.getLogger(__name__)

BATCH_JOB = "workers.jobs.entry.run_batch"  # kept as text: the relay imports no job code
# Items owed to an aggregate by another's event: any later event of the
# aggregate that completes the kind completes them.
VIA_VERSION = 0
# A completion by another aggregate's event: it comes after every item owed so far.
ANY_VERSION = 2**31 - 1


def _renaming(renamed: dict[str, str]) -> str:
    """Rows owed before job kinds were named by resource take their names now."""
    if not renamed:
        return "SELECT 1"
    pairs = ", ".join(
        "('{}', '{}')".format(old.replace("'", "''"), new.replace("'", "''"))
        for old, new in sorted(renamed.items())
    )
    return (
        f"UPDATE relay_pending p SET kind = r.new FROM (VALUES {pairs}) AS r(old, new)"
        " WHERE p.kind = r.old"
    )


class Relay(ProjectionView):
    """Event log -> RQ batch jobs, at least once, items idempotent."""

    name = "relay"
    routing: ClassVar[Routing] = ROUTING
    topics = topics_of(*ROUTING.event_types())
    ddl: ClassVar[tuple[str, ...]] = (
        """CREATE TABLE IF NOT EXISTS relay_pending (
            job_id text PRIMARY KEY, aggregate_id uuid NOT NULL, version int NOT NULL,
            queue text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""",
        "CREATE INDEX IF NOT EXISTS relay_pending_by_aggregate "
        "ON relay_pending (aggregate_id, version)",
        """CREATE TABLE IF NOT EXISTS relay_placements (
            aggregate_id uuid PRIMARY KEY, host text NOT NULL)""",
        # From the skeleton's layout: one job per item, and instance hosts only.
        "ALTER TABLE relay_pending ADD COLUMN IF NOT EXISTS kind text",
        "ALTER TABLE relay_pending ADD COLUMN IF NOT EXISTS batch_id text",
        "UPDATE relay_pending SET kind = split_part(job_id, '_', 1) WHERE kind IS NULL",
        "ALTER TABLE relay_pending DROP COLUMN IF EXISTS func, DROP COLUMN IF EXISTS args",
        """DO $$ BEGIN IF to_regclass('relay_instance_hosts') IS NOT NULL THEN
            INSERT INTO relay_placements SELECT instance_id, host FROM relay_instance_hosts
            ON CONFLICT DO NOTHING;
            DROP TABLE relay_instance_hosts;
        END IF; END $$""",
        # The owing event's request id, which the job's log lines carry.
        "ALTER TABLE relay_pending ADD COLUMN IF NOT EXISTS request_id text",
        # Which aggregates wait on which others' events (workers/declarations.py).
        """CREATE TABLE IF NOT EXISTS relay_links (
            link text NOT NULL, source_id uuid NOT NULL, target_id uuid NOT NULL,
            PRIMARY KEY (link, source_id, target_id))""",
        "CREATE INDEX IF NOT EXISTS relay_links_by_target ON relay_links (link, target_id)",
        _renaming(ROUTING.renamed),
    )

    redis: Redis | None = None
    # Whether queues whose work can wait gather their items (QueueFamily.gather_s);
    # tests that run the queues by hand after each relay batch turn it off.
    gathering: bool = True
    _writes: RelayWrites
    _batch: int
    _coalescer: Coalescer[OwedItem] | None = None

    def apply_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        self._writes, self._batch = RelayWrites(), events[-1][1]
        position = super().apply_batch(events)
        self.coalescer.hold(self._writes.items())
        self.flush()
        return position

    def apply_within(
        self, cur: Cursor[DictRow], events: Sequence[tuple[Any, int]], after: int
    ) -> int:
        """Apply the events to ``self._writes``, then write it (see RelayWrites)."""
        plan, writes = self.routing.plan, self._writes
        writes.read_links(cur, (e.originator_id for e, _ in events if plan(type(e)).reaches))
        hosts = {e.originator_id for e, _ in events if plan(type(e)).needs_placement}
        if any(plan(type(e)).needs_target_placement for e, _ in events):
            hosts |= writes.all_waiting()  # the aggregates waiting, as the table links them
            hosts |= {e.originator_id for e, _ in events if plan(type(e)).makes}  # and the batch
        writes.read_hosts(cur, hosts)
        position = super().apply_within(cur, events, after)
        self._writes.write(cur)
        return position

    @property
    def coalescer(self) -> Coalescer[OwedItem]:
        if self._coalescer is None:
            gather = self.routing.gather_s if self.gathering else (lambda queue: 0.0)
            self._coalescer = Coalescer(functools.cache(gather))
        return self._coalescer

    def flush(self) -> None:
        """Send the held items of every queue whose worker has taken its last
        batch (workers/coalesce.py); the rest wait for the next flush. What
        cannot be sent (Redis or the database away) waits for reconcile."""
        assert self.redis is not None, "Relay.redis must be set before relaying"
        try:
            groups = self.coalescer.take_ready(self.redis)
        except RedisError as exc:
            log.warning("Redis unavailable; owed items wait for reconcile: %s", exc)
            return
        for items in groups:
            batch_id, renamed = one_batch_id(items)
            try:
                if renamed:
                    self._rename(renamed, batch_id)
                self.enqueue([replace(item, batch_id=batch_id) for item in items])
            except Exception as exc:  # owed in relay_pending: reconcile sends them
                log.warning("%d owed items wait for reconcile: %s", len(items), exc)
                continue
            self.coalescer.sent(items[0].queue, batch_id)

    def _rename(self, item_ids: list[str], batch_id: str) -> None:
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(
                "UPDATE relay_pending SET batch_id=%s WHERE job_id = ANY(%s)", (batch_id, item_ids)
            )

    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        plan, writes, aggregate = self.routing.plan(type(event)), self._writes, event.originator_id
        if plan.completes:  # only the kinds this event's type completes, never an unrelated job
            writes.complete(aggregate, event.originator_version, list(plan.completes))
        if plan.cancels:  # work done in the save of the event that owed it
            writes.cancel(aggregate, list(plan.cancels))
        for link, kind in plan.completes_via:  # jobs of the aggregates waiting on this one
            for waiting in writes.waiting_on(link.name, aggregate):
                writes.complete(waiting, ANY_VERSION, [kind])
        for placement in plan.places:
            writes.placed[aggregate] = getattr(event, placement.field)
        for route in plan.owes:
            queue = self._queue(route, event, aggregate)
            if queue is not None:  # no host: the command handler did the work itself
                self._owe(route.kind, event, queue)
        for route in plan.owes_via:
            self._owe_waiting(route, event, aggregate)
        for link in plan.drops:  # before makes: an event may end one wait and begin another
            writes.unlink(link.name, aggregate)
        for link in plan.makes:  # on each aggregate its field names (one, or a list)
            writes.link_each(link.name, _ids(getattr(event, link.field)), aggregate)
        if plan.clears:  # nothing more will be asked of its host
            writes.placed[aggregate] = None

    def _owe_waiting(self, route: Route, event: Any, aggregate: UUID) -> None:
        """The route's job for each aggregate waiting on ``event``'s, or once
        per host where they wait (``once_per_host``)."""
        assert isinstance(route.owed_by, Via)
        waiting_ones = self._writes.waiting_on(route.owed_by.link.name, aggregate)
        if route.once_per_host:
            hosts = {self._queue(route, event, waiting) for waiting in waiting_ones}
            for host_queue in sorted(q for q in hosts if q is not None):
                self._owe_once(route.kind, event, host_queue)
            return
        for waiting in waiting_ones:
            queue = self._queue(route, event, waiting)
            if queue is not None:  # no host: the command handler did the work itself
                self._owe_via(route.kind, event, waiting, queue)

    def _queue(self, route: Route, event: Any, aggregate: UUID) -> str | None:
        if not route.family.per_host:
            return route.family.queue()
        if route.host_field:
            host = getattr(event, route.host_field)
        else:
            host = self._writes.host_of(aggregate)
        return route.family.queue(host) if host else None

    def _batch_id(self, queue: str) -> str:
        return f"batch_{self._batch}_{queue.replace('.', '-')}"

    def _owe(self, kind: str, e: Any, queue: str) -> None:
        """A job of ``e``'s own aggregate."""
        job_id = f"{kind}_{e.originator_id}_{e.originator_version}"
        self._owe_item(job_id, kind, e.originator_id, queue, e, e.originator_version)

    def _owe_via(self, kind: str, e: Any, waiting: UUID, queue: str) -> None:
        """A job of ``waiting`` that ``e``, an event of an aggregate it waits on, owes."""
        job_id = f"{kind}_{waiting}_via_{e.originator_id}_{e.originator_version}"
        self._owe_item(job_id, kind, waiting, queue, e, VIA_VERSION)

    def _owe_once(self, kind: str, e: Any, queue: str) -> None:
        """``e``'s job on one host's queue, for every aggregate waiting there."""
        job_id = f"{kind}_{e.originator_id}_{e.originator_version}_on_{queue}"
        self._owe_item(job_id, kind, e.originator_id, queue, e, VIA_VERSION)

    def _owe_item(
        self, job_id: str, kind: str, aggregate: UUID, queue: str, e: Any, version: int
    ) -> None:
        item = OwedItem(job_id, kind, str(aggregate), queue, self._batch_id(queue), _request_id(e))
        self._writes.owe(item, version)

    def enqueue(self, items: Sequence[OwedItem]) -> int:
        """Push one job per batch id (its items), unless Redis has it; returns
        how many jobs were pushed."""
        assert self.redis is not None, "Relay.redis must be set before relaying"
        batches: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
        request_ids: dict[str, list[str]] = defaultdict(list)
        for item in items:
            batches[item.batch_id, item.queue].append([item.kind, item.aggregate_id])
            if item.request_id:
                request_ids[item.batch_id].append(item.request_id)
        pushed = 0
        for (batch_id, queue), work in batches.items():
            try:
                Queue(queue, connection=self.redis).enqueue_call(
                    func=BATCH_JOB,
                    args=(queue, work),
                    job_id=batch_id,
                    meta={REQUEST_IDS_META: list(dict.fromkeys(request_ids[batch_id]))},
                    unique=True,  # a failure is retried by reconcile (workers/retries.py)
                    result_ttl=3600,
                    failure_ttl=7 * 86400,
                )
                pushed += 1
            except DuplicateJobError:
                pass
        return pushed

    def pending(self, older_than_seconds: float = 0) -> list[OwedItem]:
        rows = self.fetch_all(
            Query(
                "SELECT job_id, kind, aggregate_id, queue, batch_id, request_id FROM relay_pending "
                "WHERE created_at < now() - make_interval(secs => %s) "
                "ORDER BY created_at, job_id",
                (older_than_seconds,),
            )
        )
        # An item owed before batches existed gets a batch of its own.
        return [
            OwedItem(
                r["job_id"],
                r["kind"],
                str(r["aggregate_id"]),
                r["queue"],
                r["batch_id"] or f"batch_legacy_{r['job_id']}",
                r["request_id"] or "",
            )
            for r in rows
        ]

    def reconcile(self, older_than_seconds: float = 0) -> int:
        """Re-enqueue owed items whose batch Redis has lost (flushed, restarted,
        or never got), and run failed batches that still owe items again.
        Returns how many jobs it pushed."""
        assert self.redis is not None
        pending = self.pending(older_than_seconds)
        batch_ids = sorted({item.batch_id for item in pending})
        with self.redis.pipeline(transaction=False) as pipe:
            for batch_id in batch_ids:
                pipe.hget(Job.key_for(batch_id), "status")
            statuses = dict(zip(batch_ids, pipe.execute(), strict=True))
        missing = [item for item in pending if statuses[item.batch_id] is None]
        if missing:
            log.warning("re-enqueueing %d owed items missing from Redis", len(missing))
        failed = [b for b in batch_ids if statuses[b] == b"failed"]
        self._forget_run([b for b in batch_ids if statuses[b] == b"finished"])
        return self.enqueue(missing) + self._retry_failed(failed)

    def _forget_run(self, batch_ids: Sequence[str]) -> None:
        """Items of kinds no event completes are done once their batch ran."""
        kinds = list(self.routing.done_when_run)
        if batch_ids and kinds:
            with self.datastore.transaction(commit=True) as cur:
                cur.execute(
                    "DELETE FROM relay_pending WHERE batch_id = ANY(%s) AND kind = ANY(%s)",
                    (list(batch_ids), kinds),
                )

    def _retry_failed(self, job_ids: Sequence[str]) -> int:
        """Run failed batches again, each less often the more it has failed."""
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


def _ids(value: Any) -> list[UUID]:
    """The ids a link's field names: one, or a list of them."""
    values = value if isinstance(value, list | tuple) else [value]
    return [UUID(str(v)) for v in values]


def _request_id(event: Any) -> str:
    """The id of the request that caused ``event`` ("" for an event without an actor)."""
    actor = getattr(event, "actor", None)
    return str(getattr(actor, "request_id", "") or "")
