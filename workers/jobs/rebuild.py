"""The rebuild job on a server's host: the old guest and its disks go, the
guest is built again from the instance's (new) image and started, or left
off if it was off; then Rebuilt is recorded (domain/rebuild.py)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from commands import compute as record
from domain.instance import Instance
from domain.values import TaskState
from workers.harness import Outcomes, one_by_one, run_step
from workers.jobs.compute import instance_step
from workers.jobs.domain_spec import domain_name, spec_for
from workers.runtime import ComputeContext


def _rebuild(host: ComputeContext, instance: Instance) -> None:
    # Done again from the start if the job runs twice: the result is the same.
    host.hypervisor.ensure_absent(domain_name(instance.id))
    host.disks.purge_instance_disks(str(instance.id))
    spec = spec_for(instance, host)  # the new image into the cache, fresh disks
    if instance.rebuild_restarts:
        host.hypervisor.ensure_running(spec)
    else:
        host.hypervisor.ensure_stopped(spec)


REBUILD = instance_step(
    TaskState.REBUILDING, _rebuild, one_by_one(record.finish_rebuild), "rebuilt"
)


def rebuild_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(REBUILD, host, ids)
