"""A compute host's step for ports attached to or detached from a server
after its boot (os-interface): the guest's interfaces made the server's
ports plugged on this host, hot-plugged into a running real guest and
kept in its definition (libvirt's test driver, which cannot hot-plug,
takes the definition alone). Owed when a port attached to the server is
plugged by its host's network worker, or when one is detached."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.instance import Instance
from domain.values import TaskState, VmState
from workers.harness import Outcomes, Step, all_of, run_step
from workers.jobs.domain_spec import domain_name
from workers.jobs.network_interfaces import interfaces_of
from workers.runtime import ComputeContext


def _has_guest_here(instance: Instance, host: ComputeContext) -> bool:
    """A server with a guest on this host; one being built gets its
    interfaces with its spawn, one being deleted needs none."""
    return (
        instance.host == host.name
        and instance.vm_state not in (VmState.BUILDING, VmState.DELETED)
        and instance.task_state != TaskState.DELETING
    )


def _sync(host: ComputeContext, instance: Instance) -> None:
    host.hypervisor.ensure_interfaces(domain_name(instance.id), interfaces_of(host, instance))


SYNC = Step(Instance, _has_guest_here, _sync, all_of, "interfaces")


def sync_interfaces(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(SYNC, host, ids)
