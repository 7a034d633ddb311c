"""Worker-side commands of a resize (domain/resize.py): what the scheduler
and the two hosts did, each recorded in one save with the claims and quota
it moves. The user's side is commands/server_resize.py."""

from __future__ import annotations

from uuid import UUID

from commands.app import CloudApp
from commands.compute import group_placements, host_step, instance_actor
from commands.loading import load
from commands.retry import retrying
from commands.server_resize import quota_amounts
from domain.errors import InsufficientCapacity
from domain.host import ComputeHost
from domain.instance import Instance
from domain.quota import Quota
from domain.resize import resize_claim_key
from domain.scheduling import disk_needed
from domain.values import TaskState


def _instance(app: CloudApp, instance_id: UUID) -> Instance:
    return load(app, Instance, instance_id, f"Instance {instance_id}")


def _host(app: CloudApp, name: str) -> ComputeHost:
    return load(app, ComputeHost, ComputeHost.create_id(name), f"Host {name}")


@retrying
def claim_resize(app: CloudApp, instance_id: UUID, host_name: str) -> bool:
    """Claim the new flavor on ``host_name`` beside the instance's claim on
    its source, and mark the resize scheduled. False if the host cannot take
    it, or the instance no longer waits for a host."""
    instance = _instance(app, instance_id)
    flavor = instance.resize_to
    if instance.task_state != TaskState.RESIZE_PREP or flavor is None:
        return False
    grouped = group_placements(app, [instance]).get(instance.server_group)
    others = None if grouped is None else grouped.besides(instance_id)
    if others is not None and not others.group.allows(host_name, others.live_hosts):
        return False  # the group's hard policy forbids this host (now)
    actor = instance_actor(instance, "scheduler")
    host = _host(app, host_name)
    key = resize_claim_key(instance_id)
    try:
        host.claim(key, flavor.vcpus, flavor.ram_mb, disk_needed(flavor), actor)
    except InsufficientCapacity:
        return False
    instance.resize_scheduled(host_name, actor)
    if others is None:
        app.save(host, instance)
    else:
        # Saved with the group, as a boot's placement is: a member placed
        # meanwhile makes this save conflict, and the retry decides again.
        others.group.place(str(instance_id), host_name, actor)
        app.save(host, instance, others.group)
    return True


@retrying
def refuse_resize(app: CloudApp, instance_id: UUID, message: str) -> bool:
    """No host can take the new flavor: the server stays as it was, and its
    quota moves back to the old flavor. False if it no longer waits."""
    instance = _instance(app, instance_id)
    old = instance.resize_from
    if instance.task_state != TaskState.RESIZE_PREP or old is None:
        return False
    actor = instance_actor(instance, "scheduler")
    instance.refuse_resize(message, actor)
    quota = load(app, Quota, Quota.create_id(instance.project_id), "Quota")
    quota.adjust(str(instance.id), quota_amounts(old), actor)
    app.save(instance, quota)
    return True


finish_migrate = host_step(Instance.mark_migrated)
finish_resize = host_step(Instance.mark_resize_finished)
finish_dest_cleanup = host_step(Instance.mark_dest_cleaned)


@retrying
def finish_revert(app: CloudApp, instance_id: UUID) -> None:
    """The source runs the old guest again: the destination's claim goes."""
    instance = _instance(app, instance_id)
    actor = instance_actor(instance, "compute")
    dest = instance.resize_dest
    instance.mark_reverted(actor)
    host = _host(app, str(dest))
    host.release(resize_claim_key(instance_id), actor)
    app.save(instance, host)


@retrying
def finish_stash_drop(app: CloudApp, instance_id: UUID, host_name: str) -> None:
    instance = _instance(app, instance_id)
    instance.mark_stash_dropped(host_name, instance_actor(instance, "compute"))
    app.save(instance)
