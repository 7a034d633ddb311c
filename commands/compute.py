"""Worker-side commands: record what the scheduler and compute hosts did."""

from __future__ import annotations

from uuid import UUID

from commands.app import CloudApp
from commands.loading import load
from commands.retry import retrying
from domain.errors import InsufficientCapacity
from domain.host import ComputeHost
from domain.instance import Instance
from domain.quota import Quota
from domain.scheduling import disk_needed
from domain.values import Actor


def _instance(app: CloudApp, instance_id: UUID) -> Instance:
    return load(app, Instance, instance_id, f"Instance {instance_id}")


@retrying
def claim_host(app: CloudApp, instance_id: UUID, host_name: str) -> bool:
    """Claim capacity on a host and mark the instance scheduled, atomically.
    Returns False when the host cannot fit it. A concurrent write (another
    claim or a release on the host) is retried against the reloaded host."""
    instance = _instance(app, instance_id)
    actor = instance_actor(instance, "scheduler")
    host = load(app, ComputeHost, ComputeHost.create_id(host_name), f"Host {host_name}")
    flavor = instance.flavor
    try:
        host.claim(str(instance_id), flavor.vcpus, flavor.ram_mb, disk_needed(flavor), actor)
    except InsufficientCapacity:
        return False
    instance.schedule_on(host_name, actor)
    app.save(host, instance)
    return True


@retrying
def fail_instance(app: CloudApp, instance_id: UUID, message: str, code: int = 500) -> None:
    """Put the instance in ERROR with a fault, and release in the same save
    whatever the failure freed (see Instance.fail)."""
    instance = _instance(app, instance_id)
    actor = instance_actor(instance, "compute")
    held_claim, held_quota = instance.holds_claim, instance.holds_quota
    instance.fail(message, code, actor)
    released = _releases(
        app,
        instance,
        actor,
        claim=held_claim and not instance.holds_claim,
        quota=held_quota and not instance.holds_quota,
    )
    app.save(instance, *released)


@retrying
def finish_spawn(app: CloudApp, instance_id: UUID) -> None:
    instance = _instance(app, instance_id)
    instance.mark_spawned(instance_actor(instance, "compute"))
    app.save(instance)


@retrying
def finish_stop(app: CloudApp, instance_id: UUID) -> None:
    instance = _instance(app, instance_id)
    instance.mark_stopped(instance_actor(instance, "compute"))
    app.save(instance)


@retrying
def finish_start(app: CloudApp, instance_id: UUID) -> None:
    instance = _instance(app, instance_id)
    instance.mark_started(instance_actor(instance, "compute"))
    app.save(instance)


@retrying
def finish_delete(app: CloudApp, instance_id: UUID) -> None:
    """The host is clean: record the deletion and give back claim and quota."""
    instance = _instance(app, instance_id)
    actor = instance_actor(instance, "compute")
    released = _releases(app, instance, actor, instance.holds_claim, instance.holds_quota)
    instance.mark_deleted(actor)
    app.save(instance, *released)


def _releases(
    app: CloudApp, instance: Instance, actor: Actor, claim: bool, quota: bool
) -> list[ComputeHost | Quota]:
    released: list[ComputeHost | Quota] = []
    if claim and instance.host is not None:
        host = load(app, ComputeHost, ComputeHost.create_id(instance.host), "Host")
        host.release(str(instance.id), actor)
        released.append(host)
    if quota:
        project_quota = load(app, Quota, Quota.create_id(instance.project_id), "Quota")
        project_quota.release(str(instance.id), actor)
        released.append(project_quota)
    return released


def instance_actor(instance: Instance, service: str) -> Actor:
    """Worker events carry the request id of the user action that caused them."""
    return instance.last_request.as_service(service)
