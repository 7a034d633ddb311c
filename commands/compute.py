"""Worker-side commands: record what the scheduler and compute hosts did."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from commands.app import CloudApp
from commands.loading import BatchAggregates, load, load_many
from commands.network_host import plugged_with_spawn, ports_of_spawns
from commands.retry import retrying
from commands.server_networks import finish_port_releases, release_server_ports
from commands.volume_boot import attached_with_spawn, unplugged_with_deletion
from domain.errors import InsufficientCapacity, InvalidTransition, NotFound
from domain.faults import GONE_FROM_HOST
from domain.host import ComputeHost
from domain.instance import NO_VALID_HOST, Instance
from domain.quota import Quota
from domain.scheduling import disk_needed
from domain.server_group import ServerGroup
from domain.values import Actor, TaskState, VmState


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
def place_on_host(app: CloudApp, host_name: str, instance_ids: Sequence[UUID]) -> list[UUID]:
    """Claim room on one host for as many of these instances as fit and mark
    them scheduled, in ONE save; returns those placed. Instances no longer
    waiting for a host are left alone. A concurrent write to the host or an
    instance retries the whole placement against reloaded aggregates."""
    host = load(app, ComputeHost, ComputeHost.create_id(host_name), f"Host {host_name}")
    instances = load_many(app, Instance, instance_ids)
    groups = group_placements(app, instances.values())
    placed: list[Instance] = []
    for instance_id in instance_ids:
        instance = instances.get(instance_id)
        if instance is None or instance.task_state != TaskState.SCHEDULING:
            continue
        grouped = groups.get(instance.server_group)
        if grouped is not None and not grouped.group.allows(host_name, grouped.live_hosts):
            continue  # its group's hard policy forbids this host (now)
        actor = instance_actor(instance, "scheduler")
        flavor = instance.flavor
        try:
            host.claim(str(instance_id), flavor.vcpus, flavor.ram_mb, disk_needed(flavor), actor)
        except InsufficientCapacity:
            continue
        instance.schedule_on(host_name, actor)
        if grouped is not None:
            grouped.group.place(str(instance_id), host_name, actor)
            grouped.live_hosts.add(host_name)
        placed.append(instance)
    if placed:
        # The groups are saved too: a rival placing a member meanwhile makes
        # this save conflict, and the retry decides against its placement.
        # (Their ports are bound by the host as it spawns them.)
        app.save(host, *placed, *(g.group for g in groups.values()))
    return [instance.id for instance in placed]


@dataclass
class GroupPlacement:
    group: ServerGroup
    live_hosts: set[str]  # hosts of its members placed and not deleted
    member_hosts: dict[str, set[str]] = field(default_factory=dict)

    def besides(self, instance_id: UUID) -> GroupPlacement:
        """The group as a member that moves sees it: its own hosts left out."""
        others = {m: h for m, h in self.member_hosts.items() if m != str(instance_id)}
        return GroupPlacement(self.group, set[str]().union(*others.values()), others)


def group_placements(app: CloudApp, instances: Iterable[Instance]) -> dict[str, GroupPlacement]:
    """The server groups of these instances (by the id they were booted
    with), each with the hosts its living members are on."""
    wanted: dict[UUID, str] = {}
    for instance in instances:
        with contextlib.suppress(ValueError):
            if instance.server_group:
                wanted[UUID(instance.server_group)] = instance.server_group
    found = load_many(app, ServerGroup, wanted)
    placements: dict[str, GroupPlacement] = {}
    for group_id, group in found.items():
        placed = {UUID(m): h for m, h in group.hosts.items() if h}
        members = load_many(app, Instance, placed)
        on = {
            str(i): _member_hosts(member, placed[i])
            for i, member in members.items()
            if not member.is_deleted
        }
        placements[wanted[group_id]] = GroupPlacement(group, set[str]().union(*on.values()), on)
    return placements


def _member_hosts(member: Instance, recorded: str) -> set[str]:
    """Where a member is: its host, and a resize's destination while both
    claims are held (the instance knows better than the group's record,
    which a revert does not rewrite)."""
    return {h for h, _ in member.held_claims()} | {member.host or recorded}


@retrying
def fail_instance(
    app: CloudApp,
    instance_id: UUID,
    message: str,
    code: int = 500,
    only_while: TaskState | None = None,
    details: str = "",
) -> bool:
    """Put the instance in ERROR with a fault (``message`` for its owner,
    ``details`` for admins), and release in the same save whatever the
    failure freed (see Instance.fail). With ``only_while``, only if the
    instance is still in that task (a racing worker may have moved it on);
    returns whether it failed it."""
    instance = _instance(app, instance_id)
    if only_while is not None and instance.task_state != only_while:
        return False
    batch = BatchAggregates(app)
    _fail(batch, instance, message, code, instance_actor(instance, "compute"), details)
    app.save(instance, *batch.loaded.values())
    return True


@retrying
def fail_waiting(app: CloudApp, instance_ids: Sequence[UUID], task: TaskState) -> list[UUID]:
    """Put those of the instances still in ``task`` in ERROR with "No valid
    host was found", releasing what each held, in ONE save; returns those
    failed. (One save per instance made every failed boot of a flood a write
    to its project's quota, and the API's boots lost race after race to them.)"""
    batch = BatchAggregates(app)
    failed: list[Instance] = []
    for instance in load_many(app, Instance, instance_ids).values():
        if instance.task_state != task:
            continue  # a racing worker moved it on, or it is being deleted
        _fail(batch, instance, NO_VALID_HOST, 500, instance_actor(instance, "scheduler"))
        failed.append(instance)
    if failed:
        app.save(*failed, *batch.loaded.values())
    return [instance.id for instance in failed]


def host_step(mark: Callable[[Instance, Actor], None]) -> Callable[[CloudApp, UUID], None]:
    """Record a compute host's step that changes only the instance: load it,
    ``mark`` it on the user's request, save; retried on a concurrent write."""

    @retrying
    def record(app: CloudApp, instance_id: UUID) -> None:
        instance = _instance(app, instance_id)
        mark(instance, instance_actor(instance, "compute"))
        app.save(instance)

    return record


def _spawned(batch: BatchAggregates, instance: Instance) -> None:
    """Active, with the ports its host plugged bound there and ACTIVE, and
    the volumes it booted with attached (in the same save)."""
    actor, now = instance_actor(instance, "compute"), datetime.now(UTC)
    plugged_with_spawn(instance, batch)
    instance.mark_spawned(actor, now=now)
    attached_with_spawn(instance, batch, now, actor)


@retrying
def finish_spawn(app: CloudApp, instance_id: UUID) -> None:
    instance = _instance(app, instance_id)
    batch = BatchAggregates(app)
    _spawned(batch, instance)
    app.save(instance, *batch.loaded.values())


finish_stop = host_step(Instance.mark_stopped)
finish_start = host_step(Instance.mark_started)
# The host rebooted, paused, suspended or resumed the guest.
finish_power_action = host_step(Instance.mark_power_action_done)
# The host built the guest again from its new image.
finish_rebuild = host_step(Instance.mark_rebuilt)


@retrying
def record_found_off(app: CloudApp, host_name: str, instance_ids: Sequence[UUID]) -> list[UUID]:
    """Guests the host found not running while the ledger says they run
    (killed, crashed, or powered off from inside): each is stopped as Nova's
    power sync stops it, a "stop" by the compute service under a request of
    its own, in one save. Returns those recorded; an instance that has moved
    on meanwhile (a task started, another host) is left alone."""
    stopped = []
    for instance in _running_untouched(app, host_name, instance_ids):
        actor = _sync_actor(instance)
        instance.request_stop(actor)
        instance.mark_stopped(actor)
        stopped.append(instance)
    if stopped:
        app.save(*stopped)
    return [instance.id for instance in stopped]


def record_found_gone(app: CloudApp, host_name: str, instance_ids: Sequence[UUID]) -> list[UUID]:
    """Guests whose domain the host no longer has at all while the ledger
    says they run: ERROR with a fault, by the compute service (there is
    nothing left to start). Returns those recorded."""
    batch = BatchAggregates(app)
    failed = []
    for instance in _running_untouched(app, host_name, instance_ids):
        details = f"the guest's domain vanished from host {host_name}"
        _fail(batch, instance, GONE_FROM_HOST, 500, _sync_actor(instance), details)
        failed.append(instance)
    if failed:
        app.save(*failed, *batch.loaded.values())
    return [instance.id for instance in failed]


def _running_untouched(
    app: CloudApp, host_name: str, instance_ids: Sequence[UUID]
) -> list[Instance]:
    """Those still ACTIVE here with no task: an instance that has moved on
    since the host looked (a task started, another host) is left alone."""
    found = load_many(app, Instance, instance_ids).values()
    return [
        i
        for i in found
        if i.host == host_name and i.vm_state == VmState.ACTIVE and i.task_state is None
    ]


def _sync_actor(instance: Instance) -> Actor:
    """The compute service, under a request of its own (no user asked)."""
    return Actor("service:compute", instance.project_id, ("service",), f"req-{uuid4()}")


def finish_spawns(app: CloudApp, instances: Sequence[Instance]) -> list[UUID]:
    """Record many spawns in one save; returns those recorded."""

    return _finish_many(app, instances, _spawned, finish_spawn, prepare=ports_of_spawns)


def finish_deletes(app: CloudApp, instances: Sequence[Instance]) -> list[UUID]:
    """Record many deletions, and give back their claims and quota, in one save."""

    return _finish_many(app, instances, _deleted, finish_delete, finish_port_releases)


# Saves of a whole batch tried before each instance is recorded on its own.
BATCH_ATTEMPTS = 3


def _finish_many(
    app: CloudApp,
    instances: Sequence[Instance],
    transition: Callable[[BatchAggregates, Instance], None],
    finish_one: Callable[[CloudApp, UUID], None],
    before_save: Callable[[BatchAggregates], None] = lambda batch: None,
    prepare: Callable[[BatchAggregates, Sequence[Instance]], object] = lambda batch, items: None,
) -> list[UUID]:
    """One save for the whole batch. If an aggregate it read changed meanwhile
    (a boot reserved on the quota, a claim on the host), read them all again
    and retry; if an instance's own state moved on (a delete requested during
    a spawn), record each one alone, so that what still can be recorded is."""
    ids = [instance.id for instance in instances]
    for attempt in range(BATCH_ATTEMPTS):
        if attempt:
            reloaded = load_many(app, Instance, ids)
            instances = [reloaded[i] for i in ids if i in reloaded]
        batch = BatchAggregates(app)
        prepare(batch, instances)  # what every transition reads, in one query
        try:
            for instance in instances:
                transition(batch, instance)
            before_save(batch)
            app.save(*instances, *batch.loaded.values())
            return [instance.id for instance in instances]
        except IntegrityError:
            continue
        except (InvalidTransition, NotFound):
            break
    recorded = []
    for instance_id in ids:
        try:
            finish_one(app, instance_id)
            recorded.append(instance_id)
        except (InvalidTransition, NotFound):
            pass  # its state moved on (a delete superseded a spawn): nothing to record
    return recorded


@retrying
def finish_snapshot(app: CloudApp, instance_id: UUID, succeeded: bool) -> None:
    instance = _instance(app, instance_id)
    instance.mark_snapshot_done(succeeded, instance_actor(instance, "compute"))
    app.save(instance)


@retrying
def finish_delete(app: CloudApp, instance_id: UUID) -> None:
    """The host is clean: record the deletion and give back claim and quota."""
    instance = _instance(app, instance_id)
    batch = BatchAggregates(app)
    _deleted(batch, instance)
    finish_port_releases(batch)
    app.save(instance, *batch.loaded.values())


def _deleted(batch: BatchAggregates, instance: Instance) -> None:
    """The guest is gone from its host: now its ports go (the ports made for
    it deleted, a user's detached), so none is unplugged under a running
    guest; then its claim and quota."""
    actor = instance_actor(instance, "compute")
    with_ports = release_server_ports(instance, actor, batch, quota=instance.holds_quota)
    _release(
        batch, instance, actor, instance.held_claims(), instance.holds_quota and not with_ports
    )
    instance.mark_deleted(actor)
    unplugged_with_deletion(instance, batch, actor)


def _fail(
    batch: BatchAggregates,
    instance: Instance,
    message: str,
    code: int,
    actor: Actor,
    details: str = "",
) -> None:
    """ERROR with a fault, releasing what the failure freed (see Instance.fail)."""
    held_claims, held_quota = instance.held_claims(), instance.holds_quota
    instance.fail(message, code, actor, details, now=datetime.now(UTC))
    _release(
        batch,
        instance,
        actor,
        claims=[] if instance.holds_claim else held_claims,
        quota=held_quota and not instance.holds_quota,
    )


def _release(
    batch: BatchAggregates,
    instance: Instance,
    actor: Actor,
    claims: list[tuple[str, str]],
    quota: bool,
) -> None:
    """Give back these (host, key) claims and the instance's quota, as asked."""
    for host, key in claims:
        batch.get(ComputeHost, ComputeHost.create_id(host)).release(key, actor)
    if quota:
        batch.get(Quota, Quota.create_id(instance.project_id)).release(str(instance.id), actor)


def instance_actor(instance: Instance, service: str) -> Actor:
    """Worker events carry the request id of the user action that caused them."""
    return instance.last_request.as_service(service)
