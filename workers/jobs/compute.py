"""Compute jobs on one host's queue: spawn, stop, start, power and delete
batches of instances, and restore the host's domains after a restart. Each
is a step of the job harness (workers/harness.py): items whose instance has
moved on are skipped, the hypervisor works per instance, the batch's
outcomes are recorded in one save, and a permanent failure puts the
instance in ERROR with a fault."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from uuid import UUID

from commands import compute as record
from commands.app import CloudApp
from commands.loading import load, load_many
from domain.instance import Instance
from domain.power import BY_TASK
from domain.values import PowerState, TaskState, VmState
from workers import harness
from workers.drivers.errors import DriverError
from workers.drivers.hypervisor import DomainSpec
from workers.harness import Outcomes, Record, Step, in_one_save, one_by_one, run_step
from workers.jobs.boot_ports import BootPorts, unplug_server_ports
from workers.jobs.domain_spec import domain_name, spec_for
from workers.jobs.volume_disks import boot_volumes_ready
from workers.runtime import ComputeContext

log = logging.getLogger(__name__)

HYPERVISOR_TIMING = "cloudledger: the hypervisor defined and started"
Drive = Callable[[ComputeContext, Instance], None]


def _fail(app: CloudApp, instance_id: UUID, message: str, details: str = "") -> None:
    """A permanent failure of an instance's step: ERROR, with the fault
    (``message`` for its owner, ``details`` for admins, as Nova keeps them)."""
    record.fail_instance(app, instance_id, message, details=details)


def run_or_fail(
    app: CloudApp,
    instance_id: UUID,
    what: str,
    work: Callable[[], None],
    cleanup: Callable[[], None] | None = None,
) -> bool:
    """The harness's driver work and its failure texts (workers/harness.py),
    with the fault on the instance."""

    def fault(message: str, details: str) -> None:
        _fail(app, instance_id, message, details)

    return harness.run_or_fail(fault, what, work, cleanup)


def _on_host(task: TaskState) -> Callable[[Instance, ComputeContext], bool]:
    """Whether an item still has work here: state moved on means it was done."""

    def waiting(instance: Instance, host: ComputeContext) -> bool:
        return instance.task_state == task and instance.host == host.name

    return waiting


def instance_step(
    task: TaskState, drive: Drive, finish: Record[ComputeContext, Instance], done: str
) -> Step[ComputeContext, Instance]:
    """A compute step on the instances of one task: a delete is retried until
    the host is clean, never ERROR; a failed build first frees its host."""
    what = {
        TaskState.SPAWNING: "Build",
        TaskState.POWERING_OFF: "Stop",
        TaskState.REBUILDING: "Rebuild",
    }.get(task, "Start")
    if task in BY_TASK:
        what = BY_TASK[task].name.replace("_", " ").capitalize()
    return Step(
        Instance,
        _on_host(task),
        drive,
        finish,
        done,
        what=what,
        fault=None if task == TaskState.DELETING else _fail,
        undo=_remove_guest if task == TaskState.SPAWNING else None,
        after=lambda host, instance: _log(host, instance, task),
    )


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


def console_output(host: ComputeContext, instance_id: str, length: int | None) -> str:
    """The tail of an instance's console (asked by the API, os-getConsoleOutput)."""
    return host.console.tail(instance_id, length)


def remove_guest(host: ComputeContext, instance_id: UUID) -> None:
    """Everything of the instance on this host, a resize's leftovers too."""
    host.hypervisor.ensure_absent(domain_name(instance_id))
    host.disks.purge_instance_disks(str(instance_id))
    host.disks.drop_stashed_disks(str(instance_id))
    host.transfer_path(instance_id).unlink(missing_ok=True)
    host.console.remove(str(instance_id))


def _run(host: ComputeContext, instance: Instance) -> None:
    _start(host, spec_for(instance, host))


def _spawn(host: ComputeContext, instance: Instance, ports: BootPorts) -> None:
    """Its ports plugged here first (the guest's interfaces), then the guest."""
    _start(host, spec_for(instance, host, interfaces=ports.plug(instance)))


def _start(host: ComputeContext, spec: DomainSpec) -> None:
    began = time.monotonic()
    host.hypervisor.ensure_running(spec)
    # The hypervisor's own part of a boot, apart from the control plane's
    # (`cloudledger bench guest` reads it back from the console).
    took = time.monotonic() - began
    host.console.write(spec.uuid, f"{HYPERVISOR_TIMING} {spec.name} in {took:.3f} s")


def _stop(host: ComputeContext, instance: Instance) -> None:
    host.hypervisor.ensure_stopped(spec_for(instance, host))


def _remove_guest(host: ComputeContext, instance: Instance) -> None:
    """The guest, then its ports' taps and filters here."""
    remove_guest(host, instance.id)
    unplug_server_ports(host, instance)


def _spawn_alone(host: ComputeContext, instance: Instance) -> None:
    _spawn(host, instance, BootPorts(host))


# (spawn_instances gives each batch's spawns one BootPorts, read once.)
_SPAWNING = instance_step(
    TaskState.SPAWNING, _spawn_alone, in_one_save(record.finish_spawns), "active"
)
# A server booting with volumes waits until the volume hosts let it in
# (their AccessGranted owes this step again: workers/resources/volume.py).
SPAWN = replace(
    _SPAWNING,
    waiting=lambda i, host: _SPAWNING.waiting(i, host) and boot_volumes_ready(host.app, i),
)
STOP = instance_step(TaskState.POWERING_OFF, _stop, one_by_one(record.finish_stop), "stopped")
START = instance_step(TaskState.POWERING_ON, _run, one_by_one(record.finish_start), "active")
# Destroy domains and purge disks, then record the deletions; a driver
# failure is retried (a delete must not leave a half-cleaned host).
DELETE = instance_step(
    TaskState.DELETING, _remove_guest, in_one_save(record.finish_deletes), "deleted"
)


def spawn_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    ports = BootPorts(host)  # the batch's ports, read once
    step = replace(SPAWN, drive=lambda h, i: _spawn(h, i, ports), prepare=ports.read)
    return run_step(step, host, ids)


def stop_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(STOP, host, ids)


def start_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(START, host, ids)


def delete_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(DELETE, host, ids)


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


_POWER_STEPS = {
    task: instance_step(
        task, drive, one_by_one(record.finish_power_action), BY_TASK[task].ends_in.value
    )
    for task, drive in _POWER_DRIVES.items()
}


def power_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """Reboots, pauses, suspends and their undoing: each task's items together."""
    instances = load_many(host.app, Instance, ids)
    by_task: dict[TaskState, list[UUID]] = {}
    outcomes: Outcomes = {}
    for iid in ids:
        task = instances[iid].task_state if iid in instances else None
        if task in _POWER_STEPS:
            by_task.setdefault(task, []).append(iid)
        else:
            outcomes[str(iid)] = "skipped"  # done, or superseded (a delete)
    for task, task_ids in by_task.items():
        outcomes.update(run_step(_POWER_STEPS[task], host, task_ids))
    return outcomes


def list_domains(host: ComputeContext) -> list[dict[str, object]]:
    """What this host's hypervisor holds (used by ops tools and tests)."""
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
