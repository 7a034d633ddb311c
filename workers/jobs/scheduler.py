"""The scheduler job: place a batch of instances in one pass, one save per host.

Hosts are ranked from the hosts read model, whose free room the pass lowers
as it assigns instances, so one batch spreads like a series of single
placements would. The claim on the ComputeHost aggregate is the truth: what a
host cannot take after all (the read model was behind) is tried on the next
host, and what no host can take fails with "No valid host was found"."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from commands.compute import GroupPlacement, fail_waiting, group_placements, place_on_host
from commands.loading import load, load_many
from domain.errors import Conflict
from domain.image import Image
from domain.instance import Instance
from domain.scheduling import HostCandidate, RequestSpec, SchedulerConfig, disk_needed
from domain.values import FlavorSnapshot, TaskState
from workers.harness import Outcomes, load_waiting
from workers.runtime import SchedulerContext

log = logging.getLogger(__name__)

Props = dict[str, str]
_CHANGED = "skipped: instance changed while scheduling"


def _scheduling(instance: Instance) -> bool:
    return instance.task_state == TaskState.SCHEDULING


def schedule_instances(context: SchedulerContext, ids: Sequence[UUID]) -> Outcomes:
    """The job harness's first half (workers/harness.py): the batch in one
    load, those no longer waiting skipped; its drive is a plan for the whole
    batch, each host's placements recorded in one save."""
    waiting, outcomes = load_waiting(context.app, Instance, ids, _scheduling)
    candidates = {h.name: h for h in context.candidates()}
    images = image_properties(context, waiting)
    while waiting:
        groups = group_placements(context.app, waiting)
        plan = _assign(context.config, waiting, candidates, groups, images)
        planned = {instance.id for assigned in plan.values() for instance in assigned}
        unplaced = [i.id for i in waiting if i.id not in planned]
        if unplaced:
            failed = set(fail_waiting(context.app, unplaced, TaskState.SCHEDULING))
            for iid in unplaced:
                outcomes[str(iid)] = "no valid host" if iid in failed else _CHANGED
        retry: list[Instance] = []
        for host, assigned in plan.items():
            placed = _place(context, host, [i.id for i in assigned])
            for instance in assigned:
                if instance.id in placed:
                    outcomes[str(instance.id)] = f"scheduled on {host}"
                elif _still_waiting(context, instance.id):
                    retry.append(instance)
                else:  # another scheduler placed it, or it was deleted
                    outcomes[str(instance.id)] = _CHANGED
            if len(placed) < len(assigned):
                candidates.pop(host, None)  # it is fuller than the read model said
        waiting = retry
    return outcomes


def _still_waiting(context: SchedulerContext, instance_id: UUID) -> bool:
    instance = load(context.app, Instance, instance_id, "Instance")
    return instance.task_state == TaskState.SCHEDULING


def image_properties(context: SchedulerContext, instances: list[Instance]) -> dict[str, Props]:
    """The properties of the images these instances boot from, by image id,
    for ImagePropertiesFilter (an image deleted since imposes nothing)."""
    ids = set[UUID]()
    for instance in instances:
        with contextlib.suppress(ValueError):
            ids.add(UUID(instance.image_id))
    return {str(i): image.properties for i, image in load_many(context.app, Image, ids).items()}


def request_spec(
    instance: Instance,
    flavor: FlavorSnapshot,
    grouped: GroupPlacement | None,
    images: dict[str, Props],
) -> RequestSpec:
    if grouped is None:
        return RequestSpec(flavor, instance.zone_asked, images.get(instance.image_id, {}))
    group, live = grouped.group, grouped.live_hosts
    return RequestSpec(
        flavor,
        instance.zone_asked,
        images.get(instance.image_id, {}),
        group_policy=group.policy,
        group_allows=lambda host: group.allows(host, live),
        group_prefers=lambda host: group.prefers(host, live),
    )


def _assign(
    config: SchedulerConfig,
    instances: list[Instance],
    candidates: dict[str, HostCandidate],
    groups: dict[str, GroupPlacement],
    images: dict[str, Props],
) -> dict[str, list[Instance]]:
    """The best host for each instance, lowering each host's free room as it
    goes. An admin's forced host (AZ:HOST) skips the filters; its claim
    still needs the room."""
    plan: dict[str, list[Instance]] = defaultdict(list)
    for instance in instances:
        grouped = groups.get(instance.server_group)
        if instance.host_forced:
            forced = instance.host_forced
            ranked = [forced] if forced in candidates else []
        else:
            spec = request_spec(instance, instance.flavor, grouped, images)
            ranked = config.rank(list(candidates.values()), spec)
        if not ranked:
            continue
        if grouped is not None:
            grouped.live_hosts.add(ranked[0])  # the batch's next members see it
        best = candidates[ranked[0]]
        flavor = instance.flavor
        candidates[best.name] = dataclasses.replace(
            best,
            free_vcpus=best.free_vcpus - flavor.vcpus,
            free_ram_mb=best.free_ram_mb - flavor.ram_mb,
            free_disk_gb=best.free_disk_gb - disk_needed(flavor),
        )
        plan[best.name].append(instance)
    return plan


def _place(context: SchedulerContext, host: str, ids: list[UUID]) -> set[UUID]:
    try:
        return set(place_on_host(context.app, host, ids))
    except Conflict:
        log.warning("host %s kept changing while placing %d instances", host, len(ids))
        return set()
