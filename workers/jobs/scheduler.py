"""The scheduler job: filter and weigh hosts, then claim one atomically."""

from __future__ import annotations

import logging
from uuid import UUID

from commands.app import CloudApp
from commands.compute import claim_host, fail_instance
from commands.loading import load
from domain.errors import Conflict, InvalidTransition
from domain.instance import NO_VALID_HOST, Instance
from domain.scheduling import rank_hosts
from domain.values import TaskState
from projections.hosts import HostsView
from workers import runtime

log = logging.getLogger(__name__)


def schedule_instance(instance_id: str) -> str:
    context = runtime.current()
    assert context.hosts is not None
    return schedule(context.app, context.hosts, UUID(instance_id))


def schedule(app: CloudApp, hosts: HostsView, instance_id: UUID) -> str:
    """Try ranked hosts in order; the claim on the host aggregate is the truth,
    the read model only orders the attempts."""
    instance = load(app, Instance, instance_id, "Instance")
    if instance.task_state != TaskState.SCHEDULING:
        return "skipped: already scheduled or deleted"
    for host in rank_hosts(hosts.candidates(), instance.flavor):
        try:
            if claim_host(app, instance_id, host):
                return f"scheduled on {host}"
        except Conflict:
            log.warning("host %s kept changing while claiming it for %s", host, instance_id)
        except InvalidTransition:
            return "skipped: instance changed while scheduling"
    try:
        fail_instance(app, instance_id, NO_VALID_HOST, 500)
    except InvalidTransition:
        return "skipped: instance changed while scheduling"
    return "no valid host"
