"""Nova's _sync_power_states on one compute host, each correction an event
by the compute service:

- a guest the ledger says runs here but whose domain is off (its QEMU
  process killed or crashed, or powered off from inside) is recorded
  SHUTOFF, as Nova's stop would leave it. Not ERROR: the domain and its
  disks are intact, and `server start` boots it again;
- one whose domain is gone altogether goes to ERROR with a fault: there is
  nothing left to start, and its owner must rebuild or delete it;
- a domain of ours (``instance-<uuid>``) that the ledger does not place
  here is reported, and removed with its disks only when the host is
  configured to (Nova's running_deleted_instance_action: log or reap).

Runs as a job on the host's own queue (workers/periodic.py), so it never
races the host's spawns, stops and starts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from commands import compute as record
from commands.loading import load, load_many
from domain.host import ComputeHost
from domain.instance import Instance
from domain.values import VmState
from workers import routes
from workers.drivers.hypervisor import DomainInfo
from workers.jobs.compute import remove_guest
from workers.jobs.domain_spec import domain_name
from workers.periodic import enqueue_every
from workers.runtime import ComputeContext

log = logging.getLogger(__name__)

SYNC_FUNC = "workers.jobs.power_sync.sync_job"


@dataclass
class Drift:
    """What one sync found, and did."""

    stopped: list[UUID] = field(default_factory=list)
    failed: list[UUID] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def sync_power_states(host: ComputeContext) -> Drift:
    """Compare the host's domains with the ledger and record the drift."""
    found = load(host.app, ComputeHost, ComputeHost.create_id(host.name), f"Host {host.name}")
    claimed = found.instances_claimed()
    instances = load_many(host.app, Instance, claimed)
    off, vanished = [], []
    for i in instances.values():
        if i.host == host.name and i.vm_state == VmState.ACTIVE and i.task_state is None:
            state = host.hypervisor.state_of(domain_name(i.id))
            if state == "shutoff":
                off.append(i.id)
            elif state is None:
                vanished.append(i.id)
    drift = Drift()
    if off:
        drift.stopped = record.record_found_off(host.app, host.name, off)
    for iid in drift.stopped:
        host.console.write(str(iid), "cloudledger: the guest was found not running; now SHUTOFF")
        log.warning("compute %s: instance %s found not running: recorded stopped", host.name, iid)
    if vanished:
        drift.failed = record.record_found_gone(host.app, host.name, vanished)
    for iid in drift.failed:
        log.warning("compute %s: instance %s has no domain: recorded ERROR", host.name, iid)
    _unknown_domains(host, {domain_name(iid) for iid in claimed}, drift)
    return drift


def _unknown_domains(host: ComputeContext, known: set[str], drift: Drift) -> None:
    for domain in host.hypervisor.list_domains():
        if domain.name in known:
            continue
        drift.unknown.append(domain.name)
        if _is_ours(domain) and host.remove_unknown_domains:
            remove_guest(host, UUID(domain.uuid))
            drift.removed.append(domain.name)
            log.warning("compute %s: removed domain %s, unknown to the ledger", host.name, domain)
        else:
            log.warning("compute %s: domain %s is unknown to the ledger", host.name, domain.name)


def _is_ours(domain: DomainInfo) -> bool:
    """Named as the compute service names an instance's domain."""
    try:
        return domain.name == domain_name(UUID(domain.uuid))
    except ValueError:
        return False


def sync_job(host: ComputeContext) -> dict[str, list[str]]:
    """RQ's entry point (enqueued by the host's own worker, periodically)."""
    drift = sync_power_states(host)
    return {name: [str(v) for v in values] for name, values in vars(drift).items()}


def sync_periodically(
    redis_url: str, host_name: str, interval: float, stop: threading.Event
) -> Callable[[], None]:
    queue, job_id = routes.COMPUTE.queue(host_name), f"power-sync-{host_name}"
    return enqueue_every(redis_url, queue, interval, SYNC_FUNC, (), job_id, stop)
