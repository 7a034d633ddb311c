"""Nova's _sync_power_states on one compute host: a guest the ledger says
runs here, but that the hypervisor does not run (its QEMU process killed or
crashed, or powered off from inside), is recorded SHUTOFF, as Nova's stop
would leave it. Not ERROR: the guest's disks are intact and `server start`
boots it again, which is what its owner needs to know.

Runs as a job on the host's own queue (workers/periodic.py), so it never
races the host's spawns, stops and starts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from commands import compute as record
from commands.loading import load, load_many
from domain.host import ComputeHost
from domain.instance import Instance
from domain.values import VmState
from workers import routes, runtime
from workers.jobs.domain_spec import domain_name
from workers.periodic import enqueue_every
from workers.runtime import ComputeContext

log = logging.getLogger(__name__)

SYNC_FUNC = "workers.jobs.power_sync.sync_job"


def sync_power_states(host: ComputeContext) -> list[UUID]:
    """Record as stopped each instance here whose guest is not running."""
    found = load(host.app, ComputeHost, ComputeHost.create_id(host.name), f"Host {host.name}")
    instances = load_many(host.app, Instance, found.instances_claimed())
    silent = [
        i.id
        for i in instances.values()
        if i.host == host.name
        and i.vm_state == VmState.ACTIVE
        and i.task_state is None
        and host.hypervisor.state_of(domain_name(i.id)) in (None, "shutoff")
    ]
    if not silent:
        return []
    stopped = record.record_found_off(host.app, host.name, silent)
    for iid in stopped:
        host.console.write(str(iid), "cloudledger: the guest was found not running; now SHUTOFF")
        log.warning("compute %s: instance %s found not running: recorded stopped", host.name, iid)
    return stopped


def sync_job() -> list[str]:
    """RQ's entry point (enqueued by the host's own worker, periodically)."""
    host = runtime.current_host()
    return [str(i) for i in sync_power_states(host)]


def sync_periodically(
    redis_url: str, host_name: str, interval: float, stop: threading.Event
) -> Callable[[], None]:
    queue, job_id = routes.COMPUTE.queue(host_name), f"power-sync-{host_name}"
    return enqueue_every(redis_url, queue, interval, SYNC_FUNC, (), job_id, stop)
