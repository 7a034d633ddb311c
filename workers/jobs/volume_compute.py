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
from domain.values import Actor
from domain.volume import Volume
from domain.volume_values import ROOT_DEVICE, AttachStatus
from workers.drivers.chap import chap_for
from workers.drivers.errors import DriverError, PermanentDriverError, TransientDriverError
from workers.drivers.iscsi import Portal, TargetAddress, target_iqn
from workers.drivers.volume_attach import DetachTimeout, VolumeAttachments
from workers.drivers.volume_connector import VolumeDisk
from workers.jobs.domain_spec import domain_name

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


def parse_portal(text: str) -> Portal:
    address, _, port = text.rpartition(":")
    if not address or not port.isdigit():
        raise PermanentDriverError(f"volume portal {text!r} is not address:port")
    return Portal(address, int(port))


def volume_disk(
    app: CloudApp, chap_key: bytes, volume_id: str, attachment_id: str, device: str
) -> VolumeDisk:
    """One attachment as the guest's disk ``device`` (/dev/vdc -> vdc)."""
    volume = load(app, Volume, UUID(volume_id), f"Volume {volume_id}")
    if not volume.portal:
        raise PermanentDriverError(f"volume {volume_id} is not exported yet")
    chap = chap_for(chap_key, volume_id)
    address = TargetAddress(parse_portal(volume.portal), target_iqn(volume_id))
    target = device.removeprefix("/dev/")
    return VolumeDisk(attachment_id, volume_id, target, address, chap.user, chap.secret)


def disks_of(app: CloudApp, chap_key: bytes, instance: Instance) -> tuple[VolumeDisk, ...]:
    """The volumes a server's domain has, or gets when it is defined: its
    root volume (once the volume host let it in) and every attached one."""
    disks = []
    for volume_id, mapping in sorted(instance.volumes.items(), key=lambda v: v[1]["device"]):
        root = mapping["device"] == ROOT_DEVICE
        if mapping["status"] not in ("attached", "detaching") and not root:
            continue
        try:
            volume = load(app, Volume, UUID(volume_id), f"Volume {volume_id}")
        except NotFound:
            continue
        found = volume.attachments.get(mapping["attachment_id"])
        if found is None or not found["access"]:
            continue
        disks.append(
            volume_disk(app, chap_key, volume_id, mapping["attachment_id"], mapping["device"])
        )
    return tuple(disks)


def boot_volumes_ready(app: CloudApp, instance: Instance) -> bool:
    """Whether every volume the boot asked for has been let in (a spawn waits till then)."""
    for volume_id, mapping in instance.volumes.items():
        try:
            volume = load(app, Volume, UUID(volume_id), f"Volume {volume_id}")
        except NotFound:
            return False
        found = volume.attachments.get(mapping["attachment_id"])
        if found is None or not found["access"]:
            return False
    return True


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
        if instance.is_deleted or instance.host != context.host or not waiting:
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
