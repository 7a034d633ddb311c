"""`cloudledger host-domains HOST`: ask a compute worker what its hypervisor holds.

The question travels as an RQ job on the host's own queue, because only that
worker's libvirt connection knows (the test driver keeps domains in memory)."""

from __future__ import annotations

import time

from redis import Redis
from rq import Queue

from commands.bootstrap import Settings
from workers import routes


def print_domains(settings: Settings, host: str, timeout: float = 10.0) -> int:
    queue = Queue(routes.COMPUTE.queue(host), connection=Redis.from_url(settings.redis_url))
    # ttl: an unanswered question expires instead of waiting for a dead host.
    job = queue.enqueue_call(
        "workers.jobs.compute.list_domains", result_ttl=60, ttl=max(1, int(timeout))
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status is not None and status.value == "finished":
            for domain in job.return_value() or []:
                state = "running" if domain["running"] else "shut off"
                print(
                    f"{domain['name']}  {state}  {domain['vcpus']} vCPU  {domain['memory_mb']} MiB"
                )
            return 0
        if status is not None and status.value == "failed":
            print(f"the compute worker of {host} failed to answer")
            return 1
        time.sleep(0.05)
    print(f"no answer from the compute worker of {host} (is it running?)")
    return 1
