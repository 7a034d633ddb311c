"""A job for the probes of our worker loop (test_rq_worker.py,
test_heartbeats.py): the loop hands each job its context first."""

from __future__ import annotations

import time

NAP = "tests.integration.rq_probe_jobs.nap"  # as RQ names it


def nap(context: object, seconds: float) -> None:
    del context
    time.sleep(seconds)
