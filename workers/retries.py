"""Retries of failed jobs, paced by the relay rather than by RQ's scheduler.

A job that fails in RQ (a transient driver error, or a database outage that
kept it from even recording its failure) is still owed in relay_pending, so
the relay's reconcile runs it again, waiting longer after every failure. A
job reads how many attempts came before it to decide when to give up."""

from __future__ import annotations

from rq import Queue
from rq.exceptions import InvalidJobOperation
from rq.job import Job
from rq.registry import FailedJobRegistry

RETRIES_KEY = "retries"
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0


def retries_so_far(job: Job | None) -> int:
    """How many times the relay re-ran this job after a failure."""
    return int(job.meta.get(RETRIES_KEY, 0)) if job is not None else 0


def due(job: Job, now: float) -> bool:
    """Whether a failed job has waited long enough since it last failed."""
    ended = job.ended_at.timestamp() if job.ended_at else 0.0
    wait = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2.0 ** retries_so_far(job))
    return now - ended >= wait


def run_again(job: Job) -> None:
    """Count the retry on the job, then queue it again."""
    job.meta[RETRIES_KEY] = retries_so_far(job) + 1
    job.save_meta()  # type: ignore[no-untyped-call]
    try:
        FailedJobRegistry(job.origin, connection=job.connection).requeue(job)
    except InvalidJobOperation:  # no longer in the failed registry (it expired)
        Queue(job.origin, connection=job.connection).enqueue_job(job)
