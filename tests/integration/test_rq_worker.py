"""The worker loop on real Redis and real worker processes: a job left
"started" by a killed worker is taken back, a live worker's is not, a
worker outlives a Redis restart, and one serving two queues runs each
queue's jobs with that queue's context."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq_probe_jobs import CONTEXT_OF, NAP

from ops.ports import free_port
from ops.redis import PrivateRedis
from workers import job_counts
from workers.rq_worker import requeue_orphans

QUEUE = "compute.probe"


def _worker(
    redis_url: str, role: str, *, loop: bool = False, contexts: dict[str, object] | None = None
) -> subprocess.Popen[bytes]:
    """A worker process on QUEUE (or on the queues of ``contexts``): our loop
    (forever), or one burst of a plain SimpleWorker named as our workers are."""
    if loop or contexts:
        # Its jobs take their queue's context (here None) first: rq_probe_jobs.nap.
        contexts = contexts or {QUEUE: None}
        code = f"from workers.rq_worker import work; work({redis_url!r}, {contexts!r}, {role!r})"
    else:
        code = (
            "from redis import Redis; from rq import SimpleWorker; "
            "from workers.rq_worker import worker_name; "
            f"SimpleWorker([{QUEUE!r}], connection=Redis.from_url({redis_url!r}), "
            f"name=worker_name({role!r}, 1)).work(burst=True)"
        )
    return subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2])


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _started(connection: redis.Redis) -> list[str]:
    return StartedJobRegistry(QUEUE, connection=connection).get_job_ids(cleanup=False)


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _running(connection: redis.Redis, job: Job) -> bool:
    return _started(connection) == [job.id] and job.get_status(refresh=True) == JobStatus.STARTED


def test_a_job_started_by_a_killed_worker_is_queued_again(
    redis_url: str, connection: redis.Redis
) -> None:
    job = Queue(QUEUE, connection=connection).enqueue("time.sleep", 60, job_id="spawn_x_2")
    victim = _worker(redis_url, "victim")
    try:
        # Started in the registry and in the job's own status: RQ writes the
        # two apart, and a kill between them leaves a job that never ran.
        _wait(lambda: _running(connection, job), 10, "the job to start")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    assert requeue_orphans(connection, [QUEUE], "successor") == [job.id]

    assert _started(connection) == []
    assert [k for k in connection.smembers("rq:workers") if b"victim/" in k] == []  # cleared
    assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.QUEUED
    assert Queue(QUEUE, connection=connection).get_job_ids() == [job.id]
    assert requeue_orphans(connection, [QUEUE], "successor") == []  # once only


def test_a_job_whose_worker_redis_half_forgot_is_still_taken_back(
    redis_url: str, connection: redis.Redis
) -> None:
    """After a Redis restart a worker's heartbeat writes back a registration
    without its pid or host; its name still says where it ran."""
    job = Queue(QUEUE, connection=connection).enqueue("time.sleep", 60, job_id="spawn_z_2")
    victim = _worker(redis_url, "victim")
    try:
        _wait(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 10, "the job to start")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    (key,) = [k for k in connection.smembers("rq:workers") if b"victim/" in k]
    connection.hdel(key, "pid", "hostname", "birth")

    assert requeue_orphans(connection, [QUEUE], "successor") == [job.id]


def test_a_job_a_live_worker_is_running_is_left_alone(
    redis_url: str, connection: redis.Redis
) -> None:
    job = Queue(QUEUE, connection=connection).enqueue("time.sleep", 60, job_id="spawn_y_2")
    busy = _worker(redis_url, "busy")
    try:
        # Registered as started a moment before its status says so.
        _wait(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 10, "the job to start")
        assert _started(connection) == [job.id]

        assert requeue_orphans(connection, [QUEUE], "newcomer") == []

        assert _started(connection) == [job.id]
        assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.STARTED
    finally:
        busy.send_signal(signal.SIGKILL)
        busy.wait()


def _finishes(client: redis.Redis, job_id: str, seconds: float = 0) -> None:
    job = Queue(QUEUE, connection=client).enqueue(NAP, seconds, job_id=job_id)
    _wait(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 15, f"job {job_id}")


def test_the_worker_loop_waits_for_redis_and_outlives_its_restarts(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis", free_port())
    worker = _worker(server.url(), "survivor", loop=True)  # Redis is not up yet
    try:
        time.sleep(1.5)
        server.start()
        client = redis.Redis.from_url(server.url())
        _finishes(client, "first")

        # Redis dies while a job runs: the job ends with nowhere to report.
        Queue(QUEUE, connection=client).enqueue(NAP, 1.0, job_id="cut-off")
        _wait(lambda: _started(client) == ["cut-off"], 10, "the job to start")
        server.stop()
        time.sleep(2.0)
        server.start()  # an empty Redis, as after a crash without persistence

        _finishes(redis.Redis.from_url(server.url()), "after")
        assert worker.poll() is None, "the worker exited instead of waiting for Redis"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(10)
        server.stop()
    assert worker.returncode == 0


def _run_all(redis_url: str, role: str, contexts: dict[str, object], jobs: list[Job]) -> None:
    """Our worker loop on ``contexts``' queues until every one of ``jobs``
    has finished; the jobs are then read back as the worker left them."""
    worker = _worker(redis_url, role, contexts=contexts)
    try:
        _wait(
            lambda: all(j.get_status(refresh=True) == JobStatus.FINISHED for j in jobs),
            15,
            "the jobs",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(10)
    for job in jobs:
        job.refresh()


def test_a_worker_serving_two_queues_runs_each_queue_s_jobs_with_its_context(
    redis_url: str, connection: redis.Redis
) -> None:
    # A compute host's process: its own queue first, then its network's.
    own, joined = "compute.probe2", "network.probe2"
    counted = job_counts.read(connection)
    # Both queued before the worker starts: it takes its own queue's first.
    network = Queue(joined, connection=connection).enqueue(CONTEXT_OF, job_id="plug-probe")
    compute = Queue(own, connection=connection).enqueue(CONTEXT_OF, job_id="spawn-probe")
    _run_all(redis_url, "host-probe", {own: "compute's", joined: "network's"}, [network, compute])
    assert compute.return_value() == "compute's"
    assert network.return_value() == "network's"
    assert compute.ended_at is not None and network.started_at is not None
    assert compute.ended_at <= network.started_at  # one at a time, its own queue first
    now = job_counts.read(connection)
    # Each job counted for its own queue's family.
    for family in ("compute", "network"):
        assert now.get((family, "run"), 0) == counted.get((family, "run"), 0) + 1


def test_a_worker_serving_two_queues_lets_them_take_turns(
    redis_url: str, connection: redis.Redis
) -> None:
    # A stream of spawns does not keep the host's network jobs waiting.
    own, joined = "compute.probe3", "network.probe3"
    spawns = [
        Queue(own, connection=connection).enqueue(CONTEXT_OF, job_id=f"spawn-{n}") for n in range(3)
    ]
    plug = Queue(joined, connection=connection).enqueue(CONTEXT_OF, job_id="plug-turn")
    jobs = [*spawns, plug]
    _run_all(redis_url, "turns-probe", {own: "compute's", joined: "network's"}, jobs)
    order = sorted(jobs, key=lambda j: j.started_at or 0)
    assert [j.id for j in order] == ["spawn-0", "plug-turn", "spawn-1", "spawn-2"]
