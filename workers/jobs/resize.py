"""Resize jobs (domain/resize.py): the scheduler picks a destination; the
source powers the guest off, copies its root disk out and stashes its disks;
the destination adopts the copy and runs the guest with the new flavor. A
revert removes the destination's guest, then restores the source's stash.

Every step is idempotent: an item whose instance has moved on is skipped,
and a step re-run after a crash half-way converges on the same disks and
domain. A step superseded by a delete while it ran undoes its own work on
its host (the delete's job cleans the host the instance was on)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from uuid import UUID

from commands import compute, resize_steps
from commands.app import CloudApp
from commands.compute import group_placements
from domain.instance import NO_VALID_HOST, Instance
from domain.values import TaskState
from workers.drivers.disks import publish_atomically
from workers.drivers.errors import DriverError
from workers.harness import Outcomes, Step, load_waiting, one_by_one, run_step
from workers.jobs.domain_spec import describe, domain_name, spec_for
from workers.jobs.scheduler import image_properties, request_spec
from workers.runtime import ComputeContext, SchedulerContext

log = logging.getLogger(__name__)


def schedule_resizes(context: SchedulerContext, ids: Sequence[UUID]) -> Outcomes:
    """The best host that can take the new flavor, the source included (its
    room for the new flavor comes on top of the old claim, as in Nova), and
    that the server's group allows."""
    waiting, outcomes = load_waiting(
        context.app, Instance, ids, lambda i: i.task_state == TaskState.RESIZE_PREP
    )
    candidates = context.candidates()
    images = image_properties(context, waiting)
    groups = group_placements(context.app, waiting)
    for instance in waiting:
        iid = instance.id
        assert instance.resize_to is not None
        # The zone asked for at boot, and the group, hold for the resize too
        # (as Nova's request spec); the group is seen without this member.
        grouped = groups.get(instance.server_group)
        others = None if grouped is None else grouped.besides(iid)
        ranked = context.config.rank(
            candidates, request_spec(instance, instance.resize_to, others, images)
        )
        chosen = next((h for h in ranked if resize_steps.claim_resize(context.app, iid, h)), None)
        if chosen is not None:
            outcomes[str(iid)] = f"resize scheduled on {chosen}"
        elif resize_steps.refuse_resize(context.app, iid, NO_VALID_HOST):
            outcomes[str(iid)] = "no valid host"
        else:
            outcomes[str(iid)] = "skipped: instance changed while scheduling"
    return outcomes


Waiting = Callable[[Instance, ComputeContext], bool]
Drive = Callable[[ComputeContext, Instance], None]


def _fail(app: CloudApp, instance_id: UUID, message: str, details: str = "") -> None:
    compute.fail_instance(app, instance_id, message, details=details)


def _hop(
    waiting: Waiting,
    what: str,
    drive: Drive,
    finish: Callable[[CloudApp, UUID], None],
    undo: Drive | None = None,
    after: Drive | None = None,
) -> Step[ComputeContext, Instance]:
    """One step on this host for each instance still waiting for it; a
    driver failure puts the instance in ERROR (undoing the step first), and
    a step a delete superseded meanwhile is undone here."""
    return Step(
        Instance,
        waiting,
        drive,
        one_by_one(finish),
        "done",
        what=what,
        fault=_fail,
        undo=undo,
        undo_superseded=True,
        superseded="skipped: superseded",
        after=after,
    )


# The source -----------------------------------------------------------------


def _leaving_source(instance: Instance, host: ComputeContext) -> bool:
    return instance.task_state == TaskState.RESIZE_MIGRATING and instance.host == host.name


def _migrate(host: ComputeContext, instance: Instance) -> None:
    """Off and undefined, root disk copied out for the destination, disks
    stashed for a revert; each part is skipped when a re-run finds it done."""
    iid = str(instance.id)
    host.hypervisor.ensure_absent(domain_name(instance.id))
    transfer = host.transfer_path(instance.id)
    if not transfer.exists():
        transfer.parent.mkdir(parents=True, exist_ok=True)
        publish_atomically(transfer, lambda tmp: host.disks.export_root(iid, tmp))
    host.disks.stash_disks(iid)
    host.console.write(iid, f"cloudledger: {domain_name(instance.id)} left its host")


MIGRATE = _hop(_leaving_source, "Resize", _migrate, resize_steps.finish_migrate)


def migrate_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(MIGRATE, host, ids)


# The destination ------------------------------------------------------------


def _arriving(instance: Instance, host: ComputeContext) -> bool:
    return instance.task_state == TaskState.RESIZE_MIGRATED and instance.resize_dest == host.name


def _finish(host: ComputeContext, instance: Instance) -> None:
    flavor = instance.resize_to
    assert flavor is not None
    disks = host.disks.adopt_root(
        str(instance.id), host.transfer_path(instance.id), flavor.disk_gb, flavor.ephemeral_gb
    )
    spec = describe(instance, host, flavor, disks)
    if instance.resize_was_running:
        host.hypervisor.ensure_running(spec)
    else:
        host.hypervisor.ensure_stopped(spec)
    host.console.write(
        str(instance.id),
        f"cloudledger: {spec.name} resized to {flavor.name}"
        f" ({flavor.vcpus} vCPU, {flavor.ram_mb} MB)",
    )


def _remove_new_guest(host: ComputeContext, instance: Instance) -> None:
    """The destination's guest and disks; a same-host stash stays."""
    try:
        host.hypervisor.ensure_absent(domain_name(instance.id))
        host.disks.purge_instance_disks(str(instance.id))
    except DriverError:
        log.exception("could not remove the resized guest of %s", instance.id)


def _drop_copy(host: ComputeContext, instance: Instance) -> None:
    """The copy is adopted: it served its purpose."""
    host.transfer_path(instance.id).unlink(missing_ok=True)


FINISH = _hop(
    _arriving, "Resize", _finish, resize_steps.finish_resize, _remove_new_guest, _drop_copy
)


def finish_resizes(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(FINISH, host, ids)


# Reverting ------------------------------------------------------------------


def _reverting_here(at_source: bool) -> Waiting:
    def waiting(instance: Instance, host: ComputeContext) -> bool:
        return (
            instance.task_state == TaskState.RESIZE_REVERTING
            and instance.revert_at_source == at_source
            and instance.host == host.name
        )

    return waiting


REVERT_DEST = _hop(
    _reverting_here(at_source=False),
    "Revert resize",
    _remove_new_guest,
    resize_steps.finish_dest_cleanup,
)


def revert_at_dest(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(REVERT_DEST, host, ids)


def _restore(host: ComputeContext, instance: Instance) -> None:
    host.disks.restore_stashed_disks(str(instance.id))
    spec = spec_for(instance, host, instance.resize_from)
    if instance.resize_was_running:
        host.hypervisor.ensure_running(spec)
    else:
        host.hypervisor.ensure_stopped(spec)
    host.console.write(str(instance.id), f"cloudledger: {spec.name} reverted")


REVERT_SOURCE = _hop(
    _reverting_here(at_source=True), "Revert resize", _restore, resize_steps.finish_revert
)


def revert_at_source(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(REVERT_SOURCE, host, ids)


# The old disks --------------------------------------------------------------


def drop_stashes(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """Delete the disks kept for a revert that will not come; a failure is
    retried, and never puts the server in ERROR (it runs elsewhere)."""
    return run_step(DROP_STASH, host, ids)


def _drop_stash(host: ComputeContext, instance: Instance) -> None:
    # A stash here is the one asked about: this queue ran the drop before
    # any later resize's step on this host.
    if instance.stash_host in (None, host.name):
        host.disks.drop_stashed_disks(str(instance.id))


def _record_drop(host: ComputeContext, instances: Sequence[Instance]) -> list[UUID]:
    """The request is done either way."""
    for instance in instances:
        resize_steps.finish_stash_drop(host.app, instance.id, host.name)
    return [instance.id for instance in instances]


# Every item is dropped (there is nothing to skip: the instance may run
# anywhere now); a failure is retried, never a fault.
DROP_STASH = Step(Instance, lambda _i, _h: True, _drop_stash, _record_drop, "dropped")
