"""Periodic upkeep on a compute host, run as jobs on the host's own queue:
the worker takes one job at a time, so upkeep never races the host's spawns,
stops or deletes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from redis import Redis
from rq import Queue
from rq.job import Job

log = logging.getLogger(__name__)


def enqueue_every(
    redis_url: str,
    queue_name: str,
    interval: float,
    func: str,
    args: Sequence[object],
    job_id: str,
    stop: threading.Event,
) -> Callable[[], None]:
    """A loop for a thread of the host's worker: every ``interval`` seconds,
    put one ``func`` job on the queue (none while the last one still waits)."""

    def loop() -> None:
        connection = Redis.from_url(redis_url)
        queue = Queue(queue_name, connection=connection)
        while not stop.wait(interval):
            try:
                if not Job.exists(job_id, connection=connection):
                    queue.enqueue_call(
                        func, args=tuple(args), job_id=job_id, result_ttl=0, failure_ttl=60
                    )
            except Exception as exc:  # Redis away: the next round tries again
                log.warning("could not enqueue %s: %s", job_id, exc)

    return loop
