"""A job for the probes of our worker loop (test_rq_worker.py,
test_heartbeats.py): the loop hands each job its context first."""

from __future__ import annotations

import time

NAP = "tests.integration.rq_probe_jobs.nap"  # as RQ names it
CONTEXT_OF = "tests.integration.rq_probe_jobs.context_of"


def nap(context: object, seconds: float) -> None:
    del context
    time.sleep(seconds)


def context_of(context: object) -> object:
    """What the job was handed: its result, kept in Redis."""
    return context
