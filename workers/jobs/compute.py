"""Compute jobs on one host's queue: spawn, stop, start, delete, restore."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError
from rq import get_current_job

from commands import compute as record
from commands.app import CloudApp
from commands.loading import load
from domain.image import Image
from domain.instance import Instance
from domain.values import TaskState, VmState
from workers import retries, runtime
from workers.drivers.errors import DriverError, TransientDriverError
from workers.drivers.hypervisor import DomainSpec
from workers.runtime import ComputeHostDrivers

log = logging.getLogger(__name__)


def domain_name(instance_id: UUID) -> str:
    return f"instance-{instance_id}"


def _context() -> tuple[CloudApp, ComputeHostDrivers]:
    context = runtime.current()
    assert context.compute is not None, "not a compute worker"
    return context.app, context.compute


def _mine(instance: Instance, host: ComputeHostDrivers, task: TaskState) -> bool:
    """Whether this job still has work: state moved on means it was done."""
    return instance.task_state == task and instance.host == host.name


MAX_TRANSIENT_RETRIES = 3


def _last_attempt() -> bool:
    job = get_current_job()
    return job is None or retries.retries_so_far(job) >= MAX_TRANSIENT_RETRIES


def _run_or_fail(
    app: CloudApp,
    instance_id: UUID,
    what: str,
    work: Callable[[], None],
    cleanup: Callable[[], None] | None = None,
) -> bool:
    """Do driver work; a permanent failure (or the last transient one) puts the
    instance in ERROR with a fault, an earlier transient one is retried by RQ.
    ``cleanup`` runs first on failure (a failed build frees its host room)."""
    try:
        work()
    except TransientDriverError:
        if not _last_attempt():
            raise  # the job fails in RQ; the relay runs it again (workers/retries.py)
        _fail(app, instance_id, f"{what} failed after retries", cleanup)
        return False
    except DriverError as exc:
        _fail(app, instance_id, f"{what} failed: {exc}", cleanup)
        return False
    except (OperationalError, InterfaceError):
        raise  # the ledger is unreachable: not the instance's fault; RQ (or the relay) retries
    except Exception:
        # A bug or an unexpected outage: record it for the user, and re-raise
        # so RQ keeps the traceback in its failed-job registry.
        _fail(app, instance_id, f"{what} failed unexpectedly", cleanup)
        raise
    return True


def _fail(
    app: CloudApp, instance_id: UUID, message: str, cleanup: Callable[[], None] | None
) -> None:
    if cleanup is not None:
        try:
            cleanup()
        except Exception:
            log.exception("cleanup after a failed build of %s failed", instance_id)
    record.fail_instance(app, instance_id, message)


def spec_for(instance: Instance, host: ComputeHostDrivers, app: CloudApp) -> DomainSpec:
    """Image into the host cache, disks created, and the domain description."""
    image = load(app, Image, UUID(instance.image_id), "Image")
    base = host.disks.ensure_cached_image(
        instance.image_id, lambda path: host.fetch_image(instance.image_id, path)
    )
    flavor = instance.flavor
    disks = host.disks.ensure_instance_disks(
        str(instance.id), base, image.disk_format, flavor.disk_gb, flavor.ephemeral_gb
    )
    return DomainSpec(
        name=domain_name(instance.id),
        uuid=str(instance.id),
        vcpus=flavor.vcpus,
        memory_mb=flavor.ram_mb,
        disks=disks,
    )


Drive = Callable[[ComputeHostDrivers, DomainSpec], None]
Finish = Callable[[CloudApp, UUID], None]


def _power_job(
    instance_id: str, task: TaskState, what: str, drive: Drive, finish: Finish, done: str
) -> str:
    """The shape of spawn, stop and start: skip if the state moved on, drive
    the hypervisor to the wanted state, then record the outcome."""
    app, host = _context()
    iid = UUID(instance_id)
    instance = load(app, Instance, iid, "Instance")
    if not _mine(instance, host, task):
        return "skipped"
    cleanup = (lambda: _remove_guest(host, iid)) if task == TaskState.SPAWNING else None
    if _run_or_fail(app, iid, what, lambda: drive(host, spec_for(instance, host, app)), cleanup):
        finish(app, iid)
        return done
    return "error"


def _remove_guest(host: ComputeHostDrivers, instance_id: UUID) -> None:
    host.hypervisor.ensure_absent(domain_name(instance_id))
    host.disks.purge_instance_disks(str(instance_id))


def _run(host: ComputeHostDrivers, spec: DomainSpec) -> None:
    host.hypervisor.ensure_running(spec)


def _stop(host: ComputeHostDrivers, spec: DomainSpec) -> None:
    host.hypervisor.ensure_stopped(spec)


def spawn_instance(instance_id: str) -> str:
    return _power_job(instance_id, TaskState.SPAWNING, "Build", _run, record.finish_spawn, "active")


def stop_instance(instance_id: str) -> str:
    return _power_job(
        instance_id, TaskState.POWERING_OFF, "Stop", _stop, record.finish_stop, "stopped"
    )


def start_instance(instance_id: str) -> str:
    return _power_job(
        instance_id, TaskState.POWERING_ON, "Start", _run, record.finish_start, "active"
    )


def delete_instance(instance_id: str) -> str:
    """Destroy the domain and purge disks, then record the deletion; a driver
    failure is retried (a delete must not leave a half-cleaned host)."""
    app, host = _context()
    iid = UUID(instance_id)
    instance = load(app, Instance, iid, "Instance")
    if not _mine(instance, host, TaskState.DELETING):
        return "skipped"
    _remove_guest(host, iid)
    record.finish_delete(app, iid)
    return "deleted"


def list_domains() -> list[dict[str, object]]:
    """What this host's hypervisor holds (used by ops tools and tests)."""
    _, host = _context()
    return [d.__dict__ for d in host.hypervisor.list_domains()]


def restore_host(app: CloudApp, host: ComputeHostDrivers, instance_ids: list[UUID]) -> int:
    """Bring the hypervisor back in line with the ledger after a host restart:
    running instances run again, stopped ones are defined but off."""
    restored = 0
    for iid in instance_ids:
        instance = load(app, Instance, iid, "Instance")
        if instance.host != host.name or instance.task_state is not None:
            continue  # in flight: its pending job will finish it
        try:
            if instance.vm_state == VmState.ACTIVE:
                host.hypervisor.ensure_running(spec_for(instance, host, app))
                restored += 1
            elif instance.vm_state == VmState.STOPPED:
                host.hypervisor.ensure_stopped(spec_for(instance, host, app))
                restored += 1
        except DriverError as exc:
            log.error("could not restore %s: %s", iid, exc)
    return restored
