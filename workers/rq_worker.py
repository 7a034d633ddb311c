"""The RQ loop of every worker process: it waits out a lost Redis instead of
exiting, first takes back the jobs a killed predecessor left half-done, and
hands every job the context built at start for the queue it came from
(workers/runtime.py): a job function takes that context first, then the
arguments it was queued with. One process may serve several queues (a
compute host's own and its network's): it takes their jobs one at a time.

RQ only notices a job whose worker died once the job's timeout has passed
(minutes); until then it sits "started" in the queue's registry, and the
relay, seeing the job id in Redis, does not re-enqueue it. A worker starting
on a queue knows better: a job started by a worker whose process is gone
will never finish, so it is queued again (jobs are idempotent)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.worker import DequeueStrategy

from commands.logs import request_context
from workers import job_counts
from workers.heartbeats import BEAT_EVERY_S, HeartbeatThread

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 1.0
# RQ's own registration: an idle worker refreshes it every WORKER_TTL - 15 s.
# Liveness for os-services and the scheduler is workers/heartbeats.py.
WORKER_TTL = 45
# Where the relay puts the ids of the requests a job works for (workers/dispatch.py).
REQUEST_IDS_META = "request_ids"


class ContextJob(Job):
    """A job run with its worker's context before its queued arguments."""

    context: object = None

    def _execute(self) -> Any:
        if not self.func:
            raise ValueError("Cannot execute job: function is None")
        return self.func(self.context, *self.args, **self.kwargs)


class ContextWorker(SimpleWorker):
    """SimpleWorker (jobs run in this process) that passes each job the
    context of the queue it was taken from (``contexts``: queue name -> context)."""

    job_class = ContextJob

    def __init__(self, *args: Any, contexts: Mapping[str, object], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        served = {queue.name for queue in self.queues}
        if served != set(contexts):
            raise ValueError(f"queues {sorted(served)} but contexts for {sorted(contexts)}")
        self.contexts = dict(contexts)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        if isinstance(job, ContextJob):  # always: RQ loads jobs as job_class
            job.context = self.contexts[queue.name]
        succeeded: bool = super().perform_job(job, queue, execution)
        return succeeded


class CloudWorker(ContextWorker):
    """SimpleWorker (jobs run in this process, next to its libvirt connection)
    that retries a lost Redis every couple of seconds and reports a stop.
    Each job is counted for its queue's family (workers/job_counts.py), and
    the lines logged while it runs carry the request ids the relay put in its meta."""

    max_connection_wait_time = 2.0  # RQ's default backoff grows to 60 s

    def __init__(self, *args: Any, stopping: threading.Event, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)
        self.stopping = stopping

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        started = time.perf_counter()
        with request_context(job.meta.get(REQUEST_IDS_META, ())):
            succeeded: bool = super().perform_job(job, queue, execution)
            ms = (time.perf_counter() - started) * 1000
            log.info("job %s %s in %.1f ms", job.id, "done" if succeeded else "failed", ms)
        try:
            job_counts.record(self.connection, family_name_of(queue.name), succeeded)
        except redis.RedisError as exc:  # a count lost, not the job
            log.warning("job %s not counted: %s", job.id, exc)
        return succeeded

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stopping.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def unsubscribe(self) -> None:
        """RQ's, with its wait bounded: redis-py's stop() now waits for the
        control channel's thread, which can sit a minute in a read that a
        restarted Redis never answers, so a SIGTERM took that long."""
        thread = self.pubsub_thread
        if thread is None:
            return
        with contextlib.suppress(redis.RedisError):
            self.pubsub.unsubscribe()
        thread.stop(timeout=1)
        with contextlib.suppress(redis.RedisError):
            self.pubsub.close()


def family_name_of(queue: str) -> str:
    """The family a queue is named after (``network`` for ``network.h1``:
    workers/declarations.py, QueueFamily.queue): its jobs are counted for it."""
    return queue.partition(".")[0]


def work(
    redis_url: str,
    contexts: Mapping[str, object],
    role: str,
    beat_every_s: float = BEAT_EVERY_S,
) -> None:
    """Take jobs from the queues ``contexts`` names (queue -> the context its
    jobs run with) until SIGTERM, surviving Redis outages. When several hold
    jobs, the first queue's go first; ``role`` names the heartbeat."""
    queues = list(contexts)
    stopping = threading.Event()
    HeartbeatThread(redis_url, role, stopping, beat_every_s).start()
    connection = Redis.from_url(redis_url)
    incarnation = 0
    while not stopping.is_set():
        incarnation += 1
        name = worker_name(role, incarnation)
        try:
            connection.ping()
            for job_id in requeue_orphans(connection, queues, name):
                log.warning("%s: re-queued %s, left started by a worker that is gone", name, job_id)
            worker = CloudWorker(
                queues, connection=connection, name=name, stopping=stopping, contexts=contexts
            )
            # No RQ scheduler process: retries are paced by the relay. Queues
            # take turns, so a host's stream of spawns never starves its
            # network queue (a rule change, an unplug).
            worker.work(logging_level="WARNING", dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("%s: Redis is unavailable (%s); retrying", name, exc)
        # work() also returns, without a stop, when it lost Redis mid-loop.
        stopping.wait(REDIS_RETRY_SECONDS)


def requeue_orphans(connection: Redis, queues: Sequence[str], me: str) -> list[str]:
    """Queue again every job on ``queues`` that a now-dead worker had started."""
    requeued = []
    for queue_name in queues:
        queue = Queue(queue_name, connection=connection)
        registry = StartedJobRegistry(queue=queue)
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                execution = Execution.fetch(execution_id, job_id, connection)
            except ValueError:  # its record expired: nobody is running it
                execution = Execution(execution_id, job_id, connection)
            if not worker_is_gone(connection, execution.worker_name, me):
                continue
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                registry.remove_execution(execution)
                continue
            with connection.pipeline() as pipe:
                execution.delete(job, pipe)
                pipe.execute()
            if job.get_status() == JobStatus.STARTED:
                queue.enqueue_job(job, at_front=True)
                requeued.append(job_id)
    return requeued


def worker_name(role: str, incarnation: int) -> str:
    """Where a worker runs is in its name: Redis may lose its registration
    (a restart keeps only what heartbeats write back), never its name."""
    return f"{role}/{socket.gethostname()}/{os.getpid()}/{incarnation}"


_NAMED = re.compile(r"^(?P<role>[^/]+)/(?P<host>[^/]+)/(?P<pid>[0-9]+)/[0-9]+$")


def worker_is_gone(connection: Redis, name: str, me: str) -> bool:
    """Whether the worker of that name can no longer finish its job: it ran
    on this machine, in a process that is dead (or in this process, before
    this worker). A worker not named our way is gone once unregistered."""
    if name == me:
        return False
    key = f"{SimpleWorker.redis_worker_namespace_prefix}{name}"
    named = _NAMED.match(name)
    if named is None:
        return SimpleWorker.find_by_key(key, connection=connection) is None
    if named["host"] != socket.gethostname():
        return False  # another machine's worker: its own restart takes its jobs back
    pid = int(named["pid"])
    gone = pid == os.getpid() or not pid_alive(pid)
    if gone:
        connection.srem(SimpleWorker.redis_workers_keys, key)
        connection.delete(key)
    return gone


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
