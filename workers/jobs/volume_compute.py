"""A compute host's part in volumes: plug a volume the volume host has let
in into the server's guest, take it out on detach, and give a server its
volumes when its domain is defined (boot from volume, a restart). The host
derives each volume's CHAP secret itself (workers/drivers/chap.py): it
arrives in no job and no event."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from commands import volume_host as record
from commands.app import CloudApp
from commands.loading import load
from domain.errors import NotFound
from domain.instance import Instance
from domain.instance_volumes import ATTACHABLE_STATES
from domain.values import Actor
from domain.volume import Volume
from domain.volume_values import ROOT_DEVICE, AttachStatus
from workers.drivers.errors import DriverError, TransientDriverError
from workers.drivers.volume_attach import DetachTimeout, VolumeAttachments
from workers.jobs.domain_spec import domain_name
from workers.jobs.volume_disks import volume_disk
from workers.runtime import ComputeContext

log = logging.getLogger(__name__)
Outcomes = dict[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ComputeVolumes:
    """What a compute host's volume steps need of its context."""

    app: CloudApp
    host: str
    hypervisor: VolumeAttachments
    chap_key: bytes = field(repr=False)
    clock: Callable[[], datetime] = _now


class RetryLater(Exception):
    """Some servers of the batch must run again; the others are done."""


def _actor(instance: Instance) -> Actor:
    last: Actor = instance.last_request
    return last.as_service("compute")


def _servers(
    context: ComputeVolumes,
    ids: Sequence[UUID],
    status: str,
    step: Callable[[ComputeVolumes, Instance, str, dict[str, Any]], None],
) -> Outcomes:
    """Run ``step`` on every mapping in ``status`` of this host's servers."""
    outcomes: Outcomes = {}
    retry: list[Exception] = []
    for instance_id in ids:
        try:
            instance = load(context.app, Instance, instance_id, "Instance")
        except NotFound:
            outcomes[str(instance_id)] = "skipped"
            continue
        waiting = {
            volume_id: mapping
            for volume_id, mapping in instance.volumes.items()
            if mapping["status"] == status and mapping["device"] != ROOT_DEVICE
        }
        built = instance.vm_state in ATTACHABLE_STATES  # a boot's volumes are its spawn's
        if instance.is_deleted or instance.host != context.host or not waiting or not built:
            outcomes[str(instance_id)] = "skipped"
            continue
        outcomes[str(instance_id)] = "done"
        for volume_id, mapping in waiting.items():
            try:
                step(context, instance, volume_id, mapping)
            except TransientDriverError as exc:
                log.warning("volume %s of %s will be retried: %s", volume_id, instance_id, exc)
                retry.append(exc)
                outcomes[str(instance_id)] = "retry"
    if retry:
        raise RetryLater(f"{len(retry)} volumes to retry: {retry[0]!r}") from retry[0]
    return outcomes


def _attach(
    context: ComputeVolumes, instance: Instance, volume_id: str, mapping: dict[str, Any]
) -> None:
    attachment_id = mapping["attachment_id"]
    volume = load(context.app, Volume, UUID(volume_id), f"Volume {volume_id}")
    found = volume.attachments.get(attachment_id)
    if found is None or found["status"] != AttachStatus.ATTACHING or not found["access"]:
        return  # not let in yet (its grant owes this step again), or undone
    try:
        disk = volume_disk(
            context.app, context.chap_key, volume_id, attachment_id, mapping["device"]
        )
        context.hypervisor.ensure_volume_attached(domain_name(instance.id), disk)
    except TransientDriverError:
        raise
    except DriverError as exc:
        log.error("attaching volume %s to %s failed: %s", volume_id, instance.id, exc)
        record.fail_attach(
            context.app, UUID(volume_id), attachment_id, "attaching failed", _actor(instance)
        )
        return
    record.finish_attach(
        context.app, UUID(volume_id), attachment_id, context.clock(), _actor(instance)
    )


def attach_volumes(context: ComputeVolumes, ids: Sequence[UUID]) -> Outcomes:
    """Plug in every volume of these servers that the volume host has let in."""
    return _servers(context, ids, "attaching", _attach)


def _detach(
    context: ComputeVolumes, instance: Instance, volume_id: str, mapping: dict[str, Any]
) -> None:
    attachment_id = mapping["attachment_id"]
    try:
        context.hypervisor.ensure_volume_detached(domain_name(instance.id), attachment_id)
    except DetachTimeout:
        # The guest kept the disk (it did not answer the unplug): still attached.
        message = "the server did not release the volume"
        record.fail_detach(context.app, UUID(volume_id), attachment_id, message, _actor(instance))
        return
    record.finish_unplug(context.app, UUID(volume_id), attachment_id, _actor(instance))


def detach_volumes(context: ComputeVolumes, ids: Sequence[UUID]) -> Outcomes:
    """Take out every volume being detached from these servers (the volume
    host then drops its initiator from the ACL)."""
    return _servers(context, ids, "detaching", _detach)


def _of(context: ComputeContext) -> ComputeVolumes:
    return ComputeVolumes(context.app, context.name, context.hypervisor, context.chap_key)


def attach_instance_volumes(context: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """The compute role's job: plug in what the volume hosts let in."""
    return attach_volumes(_of(context), ids)


def detach_instance_volumes(context: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """The compute role's job: take out the volumes being detached."""
    return detach_volumes(_of(context), ids)
