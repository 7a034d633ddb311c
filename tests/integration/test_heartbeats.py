"""Worker liveness on real Redis: a worker busy in a long job keeps beating,
a host that stopped beating a minute ago is down for the scheduler, and a
Redis that forgot every beat calls nobody down until it has watched for a
minute."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from rq.job import JobStatus
from rq_probe_jobs import NAP
from test_rq_worker import QUEUE, _wait, _worker

from workers.heartbeats import (
    BEAT_EVERY_S,
    BEATS,
    WATCHED_SINCE,
    HeartbeatThread,
    WorkerHeartbeats,
)


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _beat(redis_url: str, role: str) -> None:
    HeartbeatThread(redis_url, role, threading.Event()).beat()


def test_a_worker_busy_in_a_long_job_keeps_beating(redis_url: str, connection: redis.Redis) -> None:
    job = Queue(QUEUE, connection=connection).enqueue(NAP, 30, job_id="spawn_long_1")
    worker = _worker(redis_url, "compute-busy", loop=True)
    beats = WorkerHeartbeats(redis_url)
    try:
        _wait(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 10, "the job to start")
        first = beats.last_seen().seen["compute-busy"]
        _wait(
            lambda: beats.last_seen().seen["compute-busy"] > first,
            BEAT_EVERY_S * 2,
            "a beat while the job runs",
        )
        assert job.get_status(refresh=True) == JobStatus.STARTED  # still in the job
        assert "compute-busy" in beats.running_since()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()


def test_a_host_silent_for_a_minute_is_down_and_one_beating_is_up(
    redis_url: str, connection: redis.Redis
) -> None:
    beats = WorkerHeartbeats(redis_url)
    _beat(redis_url, "compute-h1")
    _beat(redis_url, "scheduler")
    connection.hset(BEATS, "compute-h2", repr(time.time() - 61))  # its last beat
    # Just watched: a silent host may be one whose beat Redis lost.
    assert beats.compute_hosts_up() is None

    connection.set(WATCHED_SINCE, repr(time.time() - 120))
    assert beats.compute_hosts_up() == {"h1"}


def test_a_redis_that_forgot_every_beat_calls_nobody_down_for_a_minute(
    redis_url: str, connection: redis.Redis
) -> None:
    beats = WorkerHeartbeats(redis_url)
    _beat(redis_url, "compute-h1")
    connection.set(WATCHED_SINCE, repr(time.time() - 120))
    assert beats.compute_hosts_up() == {"h1"}

    connection.flushall()  # what a restart without persistence leaves
    assert beats.compute_hosts_up() is None  # no beat seen, but only just watching
    connection.set(WATCHED_SINCE, repr(time.time() - 120))
    assert beats.compute_hosts_up() == set()  # a minute on, silence means down
    _beat(redis_url, "compute-h1")
    assert beats.compute_hosts_up() == {"h1"}
