"""Stops, starts, deletes, locks and power actions on servers, many in one
atomic save (the API batches them: api/context.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from uuid import UUID

from commands.app import CloudApp
from commands.loading import BatchAggregates, load_many
from commands.receipt import Receipt
from commands.resize_claims import confirm_into
from commands.server_networks import (
    finish_port_releases,
    prepare_port_releases,
    release_server_ports,
)
from commands.servers import ServerAction, owned
from commands.volume_boot import detach_for_deletion
from domain.errors import DomainError
from domain.instance import Instance
from domain.power import POWER_ACTIONS
from domain.quota import Quota
from domain.values import Actor, VmState

# verb (one of ACTIONS), server id as given, who asks
ActionRequest = tuple[str, str, Actor]


def act_on_servers(requests: Sequence[ActionRequest], app: CloudApp) -> list[Receipt | DomainError]:
    """Stops, starts and deletes: every one that is allowed goes into ONE
    atomic save, in order (a second delete of one server in a batch is
    refused as it would be after the first). A refused one gets its error and
    changes nothing. All instances are read in one query."""
    ids: dict[str, UUID] = {}
    for _, server_id, _ in requests:
        with contextlib.suppress(ValueError):  # a malformed id names nothing: NotFound
            ids[server_id] = UUID(server_id)
    instances = load_many(app, Instance, ids.values())
    quotas = BatchAggregates(app)
    if any(verb == "delete" for verb, _, _ in requests):  # ports of servers with no host go now
        unplaced = [i for i in instances.values() if not i.needs_host_cleanup]
        prepare_port_releases(quotas, unplaced, requests[0][2])
    changed: dict[UUID, Instance] = {}
    outcomes: list[UUID | DomainError] = []
    for verb, server_id, actor in requests:
        try:
            instance = owned(instances.get(ids.get(server_id, _NO_ID)), server_id, actor)
            if verb not in ("lock", "unlock"):
                instance.require_unlocked(actor)
            _ACTIONS[verb](instance, actor, quotas)
            changed[instance.id] = instance
            outcomes.append(instance.id)
        except DomainError as exc:
            outcomes.append(exc)
    finish_port_releases(quotas)
    recordings = app.save(*changed.values(), *quotas.loaded.values()) if changed else []
    return [o if isinstance(o, DomainError) else Receipt.of(o, recordings) for o in outcomes]


_NO_ID = UUID(int=0)


def _stop(instance: Instance, actor: Actor, quotas: BatchAggregates) -> None:
    instance.request_stop(actor)


def _start(instance: Instance, actor: Actor, quotas: BatchAggregates) -> None:
    instance.request_start(actor)


def _delete(instance: Instance, actor: Actor, quotas: BatchAggregates) -> None:
    """Ask the host to clean up, or finish at once if no host was ever chosen.
    A server waiting in VERIFY_RESIZE is confirmed first, as Nova does; old
    disks another host keeps (a resize the delete interrupts) go too. Its
    ports go once the guest is gone (commands/compute.py: the ports made
    for it deleted, a user's port detached); at once if it never had a host."""
    if instance.vm_state == VmState.RESIZED and instance.task_state is None:
        confirm_into(quotas, instance, actor)
    elif instance.stash_host not in (None, instance.host):
        instance.request_stash_drop(actor)
    instance.request_delete(actor)
    detach_for_deletion(instance, quotas, actor, host_had_them=instance.needs_host_cleanup)
    if not instance.needs_host_cleanup:
        release_server_ports(instance, actor, quotas)  # refuses nothing
        instance.mark_deleted(actor)
        quotas.get(Quota, Quota.create_id(instance.project_id)).release(str(instance.id), actor)


def _power(name: str) -> Callable[[Instance, Actor, BatchAggregates], None]:
    return lambda instance, actor, _: instance.request_power_action(name, actor)


_ACTIONS: dict[str, Callable[[Instance, Actor, BatchAggregates], None]] = {
    "stop": _stop,
    "start": _start,
    "delete": _delete,
    "lock": lambda instance, actor, _: instance.lock("", actor),
    "unlock": lambda instance, actor, _: instance.unlock(actor),
    **{name: _power(name) for name in POWER_ACTIONS},
}
ACTIONS = tuple(_ACTIONS)


def _act_on_one(verb: str, cmd: ServerAction, app: CloudApp, actor: Actor) -> Receipt:
    (outcome,) = act_on_servers([(verb, cmd.server_id, actor)], app)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def stop_server(cmd: ServerAction, app: CloudApp, actor: Actor) -> Receipt:
    return _act_on_one("stop", cmd, app, actor)


def start_server(cmd: ServerAction, app: CloudApp, actor: Actor) -> Receipt:
    return _act_on_one("start", cmd, app, actor)


def delete_server(cmd: ServerAction, app: CloudApp, actor: Actor) -> Receipt:
    return _act_on_one("delete", cmd, app, actor)
