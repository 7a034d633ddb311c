"""Compute jobs on one host's queue: spawn, stop, start and delete batches of
instances, and restore the host's domains after a restart.

Each item is idempotent: one whose instance has moved on is skipped. The
hypervisor work is done per instance; the outcomes of a batch are recorded in
one save. An item that must be retried (a transient driver error, the ledger
unreachable) fails the batch job after the other items have run; the relay
runs it again, and the items already done are skipped."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError
from rq import get_current_job

from commands import compute as record
from commands.app import CloudApp
from commands.loading import load, load_many
from domain.errors import InvalidTransition, NotFound
from domain.instance import Instance
from domain.power import BY_TASK
from domain.values import PowerState, TaskState, VmState
from workers import retries, runtime
from workers.drivers.errors import (
    DriverError,
    PermanentDriverError,
    ShownToOwnerError,
    TransientDriverError,
)
from workers.jobs.domain_spec import domain_name, spec_for
from workers.runtime import ComputeContext

log = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 3
HYPERVISOR_TIMING = "cloudledger: the hypervisor defined and started"
Outcomes = dict[str, str]


def _mine(instance: Instance, host: ComputeContext, task: TaskState) -> bool:
    """Whether this item still has work: state moved on means it was done."""
    return instance.task_state == task and instance.host == host.name


def _last_attempt() -> bool:
    job = get_current_job()
    return job is None or retries.retries_so_far(job) >= MAX_TRANSIENT_RETRIES


class RetryLater(Exception):
    """Some items of the batch must run again; the others are done."""


def run_or_fail(
    app: CloudApp,
    instance_id: UUID,
    what: str,
    work: Callable[[], None],
    cleanup: Callable[[], None] | None = None,
) -> bool:
    """Do driver work; a permanent failure (or the last transient one) puts the
    instance in ERROR with a fault, an earlier transient one is raised for a
    retry. ``cleanup`` runs first on failure (a failed build frees its host room)."""
    try:
        work()
    except TransientDriverError as exc:
        if not _last_attempt():
            raise
        _fail(app, instance_id, f"{what} failed after retries", cleanup, str(exc))
        return False
    except ShownToOwnerError as exc:
        _fail(app, instance_id, f"{what} failed: {exc}", cleanup)
        return False
    except DriverError as exc:
        # The host's error names its paths and commands: admins only.
        _fail(app, instance_id, f"{what} failed", cleanup, str(exc))
        return False
    except (OperationalError, InterfaceError):
        raise  # the ledger is unreachable: not the instance's fault
    except Exception as exc:
        # A bug or an unexpected outage: record it for the user, and re-raise
        # so RQ keeps the traceback in its failed-job registry.
        _fail(app, instance_id, f"{what} failed unexpectedly", cleanup, repr(exc))
        raise
    return True


def _fail(
    app: CloudApp,
    instance_id: UUID,
    message: str,
    cleanup: Callable[[], None] | None,
    details: str = "",
) -> None:
    """The owner is told ``message``; ``details`` go to the log and the
    fault's details (admins), as Nova keeps them."""
    log.warning("instance %s: %s%s", instance_id, message, f" ({details})" if details else "")
    if cleanup is not None:
        try:
            cleanup()
        except Exception:
            log.exception("cleanup after a failed build of %s failed", instance_id)
    record.fail_instance(app, instance_id, message, details=details)


Drive = Callable[[ComputeContext, Instance], None]
Finish = Callable[[CloudApp, Sequence[Instance]], list[UUID]]


def run_batch(
    host: ComputeContext,
    ids: Sequence[UUID],
    task: TaskState,
    drive: Drive,
    finish: Finish,
    done: str,
) -> Outcomes:
    """The shape of every compute job: skip items whose state moved on, drive
    the hypervisor for each of the others, then record the outcomes at once."""
    outcomes: Outcomes = {}
    finished: list[Instance] = []
    retry: list[BaseException] = []
    instances = load_many(host.app, Instance, ids)
    for iid in ids:
        instance = instances.get(iid)
        if instance is None or not _mine(instance, host, task):
            outcomes[str(iid)] = "skipped"
            continue
        try:
            if _drive_one(host, instance, task, drive):
                finished.append(instance)
                _log(host, instance, task)
            else:
                outcomes[str(iid)] = "error"
        except Exception as exc:
            retry.append(exc)
            outcomes[str(iid)] = "retry"
    recorded = set(finish(host.app, finished)) if finished else set()
    for instance in finished:
        outcomes[str(instance.id)] = done if instance.id in recorded else "skipped"
    if retry:
        raise RetryLater(f"{len(retry)} of {len(ids)} to retry: {retry[0]!r}") from retry[0]
    return outcomes


def _drive_one(host: ComputeContext, instance: Instance, task: TaskState, drive: Drive) -> bool:
    if task == TaskState.DELETING:
        drive(host, instance)  # a delete is retried until the host is clean, never ERROR
        return True
    cleanup = (lambda: remove_guest(host, instance.id)) if task == TaskState.SPAWNING else None
    what = {
        TaskState.SPAWNING: "Build",
        TaskState.POWERING_OFF: "Stop",
        TaskState.REBUILDING: "Rebuild",
    }.get(task, "Start")
    if task in BY_TASK:
        what = BY_TASK[task].name.replace("_", " ").capitalize()
    return run_or_fail(host.app, instance.id, what, lambda: drive(host, instance), cleanup)


_DONE_WORDS = {
    TaskState.SPAWNING: "started",
    TaskState.POWERING_OFF: "powered off",
    TaskState.POWERING_ON: "started",
    TaskState.REBOOTING: "rebooted",
    TaskState.REBOOTING_HARD: "rebooted (hard)",
    TaskState.PAUSING: "paused",
    TaskState.UNPAUSING: "unpaused",
    TaskState.SUSPENDING: "suspended",
    TaskState.RESUMING: "resumed",
    TaskState.REBUILDING: "rebuilt",
}


def _log(host: ComputeContext, instance: Instance, task: TaskState) -> None:
    """What the driver did, on the instance's console (the test driver's
    guests print nothing themselves). Its owner reads it: no host name, as
    the API shows the host to admins only."""
    if task in _DONE_WORDS:
        flavor = instance.flavor
        host.console.write(
            str(instance.id),
            f"cloudledger: {domain_name(instance.id)} {_DONE_WORDS[task]}"
            f" ({flavor.vcpus} vCPU, {flavor.ram_mb} MB)",
        )


def console_output(instance_id: str, length: int | None) -> str:
    """The tail of an instance's console (asked by the API, os-getConsoleOutput)."""
    host = runtime.current_host()
    return host.console.tail(instance_id, length)


def remove_guest(host: ComputeContext, instance_id: UUID) -> None:
    """Everything of the instance on this host, a resize's leftovers too."""
    host.hypervisor.ensure_absent(domain_name(instance_id))
    host.disks.purge_instance_disks(str(instance_id))
    host.disks.drop_stashed_disks(str(instance_id))
    host.transfer_path(instance_id).unlink(missing_ok=True)
    host.console.remove(str(instance_id))


def _run(host: ComputeContext, instance: Instance) -> None:
    spec = spec_for(instance, host)
    began = time.monotonic()
    host.hypervisor.ensure_running(spec)
    # The hypervisor's own part of a boot, apart from the control plane's
    # (`cloudledger bench guest` reads it back from the console).
    took = time.monotonic() - began
    host.console.write(str(instance.id), f"{HYPERVISOR_TIMING} {spec.name} in {took:.3f} s")


def _stop(host: ComputeContext, instance: Instance) -> None:
    host.hypervisor.ensure_stopped(spec_for(instance, host))


def _delete(host: ComputeContext, instance: Instance) -> None:
    remove_guest(host, instance.id)


def spawn_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_batch(host, ids, TaskState.SPAWNING, _run, record.finish_spawns, "active")


def stop_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_batch(
        host, ids, TaskState.POWERING_OFF, _stop, one_by_one(record.finish_stop), "stopped"
    )


def start_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_batch(
        host, ids, TaskState.POWERING_ON, _run, one_by_one(record.finish_start), "active"
    )


def delete_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """Destroy domains and purge disks, then record the deletions; a driver
    failure is retried (a delete must not leave a half-cleaned host)."""
    return run_batch(host, ids, TaskState.DELETING, _delete, record.finish_deletes, "deleted")


def _hard_reboot(host: ComputeContext, instance: Instance) -> None:
    spec = spec_for(instance, host)
    host.hypervisor.ensure_stopped(spec)
    host.hypervisor.ensure_running(spec)


# How the hypervisor carries out each power action (domain/power.py).
_POWER_DRIVES: dict[TaskState, Drive] = {
    TaskState.REBOOTING: lambda host, i: host.hypervisor.reboot(spec_for(i, host)),
    TaskState.REBOOTING_HARD: _hard_reboot,
    TaskState.PAUSING: lambda host, i: host.hypervisor.ensure_paused(spec_for(i, host)),
    TaskState.UNPAUSING: _run,
    TaskState.SUSPENDING: lambda host, i: host.hypervisor.ensure_suspended(spec_for(i, host)),
    TaskState.RESUMING: _run,
}


def power_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """Reboots, pauses, suspends and their undoing: each task's items together."""
    instances = load_many(host.app, Instance, ids)
    by_task: dict[TaskState, list[UUID]] = {}
    outcomes: Outcomes = {}
    for iid in ids:
        task = instances[iid].task_state if iid in instances else None
        if task in _POWER_DRIVES:
            by_task.setdefault(task, []).append(iid)
        else:
            outcomes[str(iid)] = "skipped"  # done, or superseded (a delete)
    finish = one_by_one(record.finish_power_action)
    for task, task_ids in by_task.items():
        done = BY_TASK[task].ends_in.value
        outcomes.update(run_batch(host, task_ids, task, _POWER_DRIVES[task], finish, done))
    return outcomes


def snapshot_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """createImage: export each root disk and upload it as its image's data.
    A snapshot that cannot be made leaves the server as it was (and its image
    queued), not in ERROR; a transient failure is retried like any job."""
    outcomes: Outcomes = {}
    retry: list[BaseException] = []
    instances = load_many(host.app, Instance, ids)
    for iid in ids:
        instance = instances.get(iid)
        if instance is None or not _mine(instance, host, TaskState.IMAGE_SNAPSHOT):
            outcomes[str(iid)] = "skipped"
            continue
        try:
            _snapshot(host, instance)
            succeeded = True
        except PermanentDriverError as exc:
            log.warning("snapshot of %s failed: %s", iid, exc)
            succeeded = False
        except Exception as exc:
            if not _last_attempt():
                retry.append(exc)
                outcomes[str(iid)] = "retry"
                continue
            log.warning("snapshot of %s failed for good: %s", iid, exc)
            succeeded = False
        try:
            record.finish_snapshot(host.app, iid, succeeded)
            outcomes[str(iid)] = "snapshotted" if succeeded else "snapshot failed"
        except (InvalidTransition, NotFound):
            outcomes[str(iid)] = "skipped"  # a delete superseded it
    if retry:
        raise RetryLater(f"{len(retry)} of {len(ids)} to retry: {retry[0]!r}") from retry[0]
    return outcomes


def _snapshot(host: ComputeContext, instance: Instance) -> None:
    image_id = instance.snapshot_image_id
    running = host.hypervisor.state_of(domain_name(instance.id)) == "running"
    with tempfile.TemporaryDirectory(prefix="snapshot-") as tmp:
        data = Path(tmp) / f"{image_id}.qcow2"
        # A running guest is paused while its disk is read: what is saved is
        # one moment of the disk, not a mix of before and after its writes.
        spec = spec_for(instance, host) if running else None
        if spec is not None:
            host.hypervisor.ensure_paused(spec)
        try:
            host.disks.export_root(str(instance.id), data)
        finally:
            if spec is not None:
                host.hypervisor.ensure_running(spec)
        host.upload_image(image_id, data)
    host.console.write(str(instance.id), f"cloudledger: root disk saved as image {image_id}")


def one_by_one(finish: Callable[[CloudApp, UUID], None]) -> Finish:
    """Stops and starts are rare: record each on its own."""

    def finish_all(app: CloudApp, instances: Sequence[Instance]) -> list[UUID]:
        recorded = []
        for instance in instances:
            try:
                finish(app, instance.id)
                recorded.append(instance.id)
            except (InvalidTransition, NotFound):
                pass  # its state moved on (a delete superseded it)
        return recorded

    return finish_all


def list_domains() -> list[dict[str, object]]:
    """What this host's hypervisor holds (used by ops tools and tests)."""
    host = runtime.current_host()
    return [d.__dict__ for d in host.hypervisor.list_domains()]


def restore_host(host: ComputeContext, instance_ids: list[UUID]) -> int:
    """Bring the hypervisor back in line with the ledger after a host restart:
    running instances run again, stopped ones are defined but off."""
    restored = 0
    for iid in instance_ids:
        instance = load(host.app, Instance, iid, "Instance")
        if instance.host != host.name or instance.task_state is not None:
            continue  # in flight: its pending job will finish it
        try:
            if instance.vm_state == VmState.RESIZED:  # the new guest, as it was left
                restore = host.hypervisor.ensure_running
                if instance.power_state != PowerState.RUNNING:
                    restore = host.hypervisor.ensure_stopped
                restore(spec_for(instance, host))
                restored += 1
            elif instance.vm_state == VmState.ACTIVE:
                host.hypervisor.ensure_running(spec_for(instance, host))
                restored += 1
            elif instance.vm_state == VmState.STOPPED:
                host.hypervisor.ensure_stopped(spec_for(instance, host))
                restored += 1
            elif instance.vm_state == VmState.PAUSED:
                host.hypervisor.ensure_paused(spec_for(instance, host))
                restored += 1
            elif instance.vm_state == VmState.SUSPENDED:
                host.hypervisor.ensure_suspended(spec_for(instance, host))
                restored += 1
        except DriverError as exc:
            log.error("could not restore %s: %s", iid, exc)
    return restored
