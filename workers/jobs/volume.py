"""The volume worker's jobs, each on a batch of volume (or snapshot) ids:
make a volume's file and export it (with CHAP), let attachments' initiators
in and out, grow it, snapshot it, zero and remove it. Every step converges
on re-run; each records its outcome through commands/volume_host.py, which
does nothing when the outcome is recorded already.

A transient driver error (tgtd away, a session still open) leaves the item
for a retry once the others have run; a permanent one is recorded on the
item as its failure, with a short reason (the details go to the log)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from commands import volume_host as record
from commands.app import CloudApp
from commands.loading import load
from domain.errors import NotFound
from domain.image import Image
from domain.values import Actor
from domain.volume import Volume
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_values import AttachStatus, SnapshotStatus, VolumeStatus
from workers.drivers.errors import DriverError, PermanentDriverError, TransientDriverError
from workers.drivers.iscsi import attachment_initiator_iqn
from workers.jobs.volume_context import VolumeContext

log = logging.getLogger(__name__)
GIB = 1 << 30
Outcomes = dict[str, str]
T = TypeVar("T", Volume, VolumeSnapshot)


class RetryLater(Exception):
    """Some items of the batch must run again; the others are done."""


def _actor(item: Volume | VolumeSnapshot) -> Actor:
    """The request the host carries on, as a service (for the audit)."""
    last: Actor = item.__dict__.get("last_request") or item.__dict__.get("requester") or _SERVICE
    return last.as_service("volume")


_SERVICE = Actor("service:volume", "", ("service",), "")


def _each(
    context: VolumeContext,
    ids: Sequence[UUID],
    loader: Callable[[CloudApp, UUID], T],
    waiting: Callable[[T], bool],
    drive: Callable[[VolumeContext, T], None],
    fault: Callable[[VolumeContext, T, str], None],
    what: str,
) -> Outcomes:
    """Drive each item still waiting; transient failures are retried (the
    batch fails after the others ran), permanent ones recorded as faults."""
    outcomes: Outcomes = {}
    retry: list[Exception] = []
    for item_id in ids:
        try:
            item = loader(context.app, item_id)
        except NotFound:
            outcomes[str(item_id)] = "skipped"
            continue
        if not waiting(item):
            outcomes[str(item_id)] = "skipped"
            continue
        try:
            drive(context, item)
            outcomes[str(item_id)] = "done"
        except TransientDriverError as exc:
            log.warning("%s of %s will be retried: %s", what, item_id, exc)
            retry.append(exc)
            outcomes[str(item_id)] = "retry"
        except DriverError as exc:
            log.error("%s of %s failed: %s", what, item_id, exc)
            fault(context, item, f"{what} failed")
            outcomes[str(item_id)] = "error"
    if retry:
        raise RetryLater(f"{len(retry)} of {len(ids)} to retry: {retry[0]!r}") from retry[0]
    return outcomes


# Creating --------------------------------------------------------------------------


def _making(volume: Volume) -> bool:
    return not volume.is_deleted and volume.status in (
        VolumeStatus.CREATING,
        VolumeStatus.DOWNLOADING,
    )


def _make(context: VolumeContext, volume: Volume) -> None:
    """The file (from its source), the export with the volume's CHAP account,
    and the ACL entries of the attachments a boot asked for; then recorded."""
    path = _file_for(context, volume)
    chap = context.chap(volume.id)
    context.target.ensure_export(str(volume.id), str(path), chap.user, chap.secret)
    boots = [a for a, found in volume.attachments.items() if found["status"] == "reserved"]
    for attachment_id in boots:
        context.target.ensure_acl(str(volume.id), attachment_initiator_iqn(attachment_id))
    record.mark_available(
        context.app, volume.id, context.host, context.portal, _actor(volume), granted=boots
    )


def _file_for(context: VolumeContext, volume: Volume) -> Path:
    files, size = context.files, volume.size * GIB
    if volume.source_kind == "":
        return files.ensure_blank(str(volume.id), size)
    if volume.source_kind == "volume":
        source = _source_volume(context, volume)
        return files.ensure_copy(str(volume.id), files.volume_path(str(source.id)), size)
    if volume.source_kind == "snapshot":
        snapshot = _source_snapshot(context, volume)
        return files.ensure_copy(str(volume.id), files.snapshot_path(str(snapshot.id)), size)
    if volume.source_kind == "image":
        return _from_image(context, volume, size)
    raise PermanentDriverError(f"unknown source {volume.source_kind!r}")


def _source_volume(context: VolumeContext, volume: Volume) -> Volume:
    """The source, still one its requester may see (checked again at use)."""
    try:
        source = record.load_volume(context.app, volume.source_id)
    except (NotFound, ValueError):
        raise PermanentDriverError("the source volume is gone") from None
    if not source.visible_to(volume.requester):
        raise PermanentDriverError("the source volume is gone")
    return source


def _source_snapshot(context: VolumeContext, volume: Volume) -> VolumeSnapshot:
    try:
        snapshot = record.load_snapshot(context.app, volume.source_id)
    except (NotFound, ValueError):
        raise PermanentDriverError("the source snapshot is gone") from None
    usable = snapshot.visible_to(volume.requester) and snapshot.status == SnapshotStatus.AVAILABLE
    if not usable:
        raise PermanentDriverError("the source snapshot is not available")
    return snapshot


def _from_image(context: VolumeContext, volume: Volume, size: int) -> Path:
    """The image's bytes (fetched as the requester may see them), converted
    from the format the ledger names, never one guessed from the bytes."""
    existing = context.files.volume_path(str(volume.id))
    if context.files.size_of(existing) is not None:
        return existing  # made before a crash; only the record was missing
    try:
        image = load(context.app, Image, UUID(volume.source_id), "Image")
    except (NotFound, ValueError):
        raise PermanentDriverError("the image is gone") from None
    requester = volume.requester
    if image.status != "active" or not image.visible_to(requester.project_id, requester.is_admin):
        raise PermanentDriverError("the image is not available")
    record.mark_downloading(context.app, volume.id, _actor(volume))
    context.scratch.mkdir(parents=True, exist_ok=True)
    download = context.scratch / f".image-for-{volume.id}"
    try:
        with download.open("wb") as out:
            context.fetch_image(str(image.id), out)
        return context.files.ensure_from_image(str(volume.id), download, image.disk_format, size)
    finally:
        download.unlink(missing_ok=True)


def _fail_create(context: VolumeContext, volume: Volume, message: str) -> None:
    record.fail_volume(context.app, volume.id, message, _actor(volume))


def create_volumes(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context, ids, record.load_volume, _making, _make, _fail_create, "creating the volume"
    )


# Deleting --------------------------------------------------------------------------


def _deleting(volume: Volume) -> bool:
    return not volume.is_deleted and volume.status == VolumeStatus.DELETING


def _delete(context: VolumeContext, volume: Volume) -> None:
    """Target first (refused while an initiator is logged in: retried), then
    the bytes zeroed and the file gone, then the quota back."""
    context.target.remove_export(str(volume.id))
    context.files.ensure_deleted(context.files.volume_path(str(volume.id)))
    record.finish_delete(context.app, volume.id, _actor(volume))


def _fail_delete(context: VolumeContext, volume: Volume, message: str) -> None:
    record.fail_delete(context.app, volume.id, message, _actor(volume))


def delete_volumes(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context, ids, record.load_volume, _deleting, _delete, _fail_delete, "deleting the volume"
    )


# Extending --------------------------------------------------------------------------


def _extending(volume: Volume) -> bool:
    return volume.status == VolumeStatus.EXTENDING


def _extend(context: VolumeContext, volume: Volume) -> None:
    context.files.extend(str(volume.id), int(volume.__dict__["new_size"]) * GIB)
    record.finish_extend(context.app, volume.id, _actor(volume))


def _fail_extend(context: VolumeContext, volume: Volume, message: str) -> None:
    record.fail_extend(context.app, volume.id, message, _actor(volume))


def extend_volumes(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context, ids, record.load_volume, _extending, _extend, _fail_extend, "extending the volume"
    )


# Attachments' initiators in and out ------------------------------------------------


def _to_grant(volume: Volume) -> list[str]:
    """Attachments waiting for the volume host (not those a boot asked for
    while the volume is still being made: its creation lets them in)."""
    return [
        attachment_id
        for attachment_id, found in volume.attachments.items()
        if found["status"] == AttachStatus.ATTACHING and not found["access"]
    ]


def _grant(context: VolumeContext, volume: Volume) -> None:
    chap = context.chap(volume.id)
    path = context.files.volume_path(str(volume.id))
    # The export again (it converges): a restarted tgtd may not have it yet.
    context.target.ensure_export(str(volume.id), str(path), chap.user, chap.secret)
    for attachment_id in _to_grant(volume):
        context.target.ensure_acl(str(volume.id), attachment_initiator_iqn(attachment_id))
        record.grant_access(context.app, volume.id, attachment_id, _actor(volume))


def _fail_grant(context: VolumeContext, volume: Volume, message: str) -> None:
    for attachment_id in _to_grant(volume):
        record.fail_attach(context.app, volume.id, attachment_id, message, _actor(volume))


def grant_attachments(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context,
        ids,
        record.load_volume,
        lambda v: bool(_to_grant(v)),
        _grant,
        _fail_grant,
        "letting the server's host in",
    )


def _to_revoke(volume: Volume) -> list[str]:
    """Attachments the compute host has unplugged: their ACL entries go."""
    return [
        attachment_id
        for attachment_id, found in volume.attachments.items()
        if found["status"] == AttachStatus.DETACHING and found.get("unplugged")
    ]


def _revoke(context: VolumeContext, volume: Volume) -> None:
    for attachment_id in _to_revoke(volume):
        context.target.remove_acl(str(volume.id), attachment_initiator_iqn(attachment_id))
        record.finish_detach(context.app, volume.id, attachment_id, _actor(volume))


def _revoke_failed(context: VolumeContext, volume: Volume, message: str) -> None:
    """Nothing to record: the volume stays detaching (the reconcile and a
    retry of the job take the entry off later)."""


def revoke_attachments(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context,
        ids,
        record.load_volume,
        lambda v: bool(_to_revoke(v)),
        _revoke,
        _revoke_failed,
        "letting the server's host go",
    )


# Snapshots --------------------------------------------------------------------------


def _snapshot(context: VolumeContext, snapshot: VolumeSnapshot) -> None:
    context.files.ensure_snapshot(str(snapshot.id), snapshot.volume_id)
    record.finish_snapshot(context.app, snapshot.id, _actor(snapshot))


def _fail_snapshot(context: VolumeContext, snapshot: VolumeSnapshot, message: str) -> None:
    record.fail_snapshot(context.app, snapshot.id, message, _actor(snapshot))


def create_snapshots(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context,
        ids,
        record.load_snapshot,
        lambda s: s.status == SnapshotStatus.CREATING,
        _snapshot,
        _fail_snapshot,
        "taking the snapshot",
    )


def _drop_snapshot(context: VolumeContext, snapshot: VolumeSnapshot) -> None:
    context.files.ensure_deleted(context.files.snapshot_path(str(snapshot.id)))
    record.finish_snapshot_delete(context.app, snapshot.id, _actor(snapshot))


def _fail_drop(context: VolumeContext, snapshot: VolumeSnapshot, message: str) -> None:
    record.fail_snapshot_delete(context.app, snapshot.id, message, _actor(snapshot))


def delete_snapshots(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context,
        ids,
        record.load_snapshot,
        lambda s: not s.deleted and s.status == SnapshotStatus.DELETING,
        _drop_snapshot,
        _fail_drop,
        "deleting the snapshot",
    )


# Copies into images --------------------------------------------------------------


def _upload(context: VolumeContext, volume: Volume) -> None:
    """The volume's bytes into its image, in the format the image names."""
    image_id = volume.upload_image_id
    try:
        image = load(context.app, Image, UUID(image_id), "Image")
    except NotFound:
        raise PermanentDriverError("the image is gone") from None
    if image.status != "queued":
        raise PermanentDriverError(f"the image is {image.status}, not waiting for data")
    source = context.files.volume_path(str(volume.id))
    if image.disk_format == "raw":
        context.upload_image(image_id, source)
    else:
        context.scratch.mkdir(parents=True, exist_ok=True)
        converted = context.scratch / f".image-for-{volume.id}"
        try:
            context.files.export_as(source, converted, image.disk_format)
            context.upload_image(image_id, converted)
        finally:
            converted.unlink(missing_ok=True)
    record.finish_upload(context.app, volume.id, _actor(volume))


def _fail_upload(context: VolumeContext, volume: Volume, message: str) -> None:
    record.fail_upload(context.app, volume.id, message, _actor(volume))


def upload_volumes(context: VolumeContext, ids: Sequence[UUID]) -> Outcomes:
    return _each(
        context,
        ids,
        record.load_volume,
        lambda v: v.status == VolumeStatus.UPLOADING,
        _upload,
        _fail_upload,
        "uploading the volume to an image",
    )


def remove_scratch(context: VolumeContext) -> None:
    """Image downloads a crash left behind."""
    with contextlib.suppress(FileNotFoundError):
        for leftover in context.scratch.glob(".image-for-*"):
            leftover.unlink(missing_ok=True)
