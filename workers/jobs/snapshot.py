"""createImage in two steps across two aggregates (workers/resources/instance.py):

1. the instance's host exports the root disk and uploads it as its image's
   data (``snapshot_instances``); the image's ``Uploaded`` is that step's
   outcome, and completes it;
2. that event owes, through the relay's link from the image to the
   instance, the step that ends the instance's task (``finish_snapshots``):
   any worker can record it.

A crash between the two loses nothing and repeats nothing: the relay wrote
the second step in the transaction that saw the upload, and the upload is
not done again. A snapshot that cannot be made leaves the server as it was
(and its image queued), not in ERROR: its fault is a failed snapshot."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from commands import compute as record
from commands.app import CloudApp
from commands.loading import load_many
from domain.errors import InvalidTransition, NotFound
from domain.image import Image
from domain.instance import Instance
from domain.values import TaskState
from workers.harness import Outcomes, Step, all_of, load_waiting, one_by_one, run_step
from workers.jobs.domain_spec import domain_name, spec_for
from workers.runtime import ComputeContext, LedgerContext

log = logging.getLogger(__name__)


def _stored(app: CloudApp, instance: Instance) -> bool:
    """Whether the snapshot's image already holds its data (the upload was done)."""
    image_id = UUID(instance.snapshot_image_id)
    image = load_many(app, Image, [image_id]).get(image_id)
    return image is not None and image.size is not None


def _snapshotting_here(instance: Instance, host: ComputeContext) -> bool:
    return instance.task_state == TaskState.IMAGE_SNAPSHOT and instance.host == host.name


def _failed(app: CloudApp, instance_id: UUID, message: str, details: str = "") -> None:
    log.warning("snapshot of %s: %s %s", instance_id, message, details)
    with contextlib.suppress(InvalidTransition, NotFound):  # a delete superseded it
        record.finish_snapshot(app, instance_id, succeeded=False)


def _upload(host: ComputeContext, instance: Instance) -> None:
    """Export the root disk and upload it, unless that was done before (a
    re-run): then the image's event finishes the snapshot."""
    if _stored(host.app, instance):
        return
    image_id = instance.snapshot_image_id
    running = host.hypervisor.state_of(domain_name(instance.id)) == "running"
    with tempfile.TemporaryDirectory(prefix="snapshot-") as tmp:
        data = Path(tmp) / f"{image_id}.qcow2"
        # A running guest is paused while its disk is read: what is saved is
        # one moment of the disk, not a mix of before and after its writes.
        spec = spec_for(instance, host) if running else None
        if spec is not None:
            host.hypervisor.ensure_paused(spec)
        try:
            host.disks.export_root(str(instance.id), data)
        finally:
            if spec is not None:
                host.hypervisor.ensure_running(spec)
        host.upload_image(image_id, data)
    host.console.write(str(instance.id), f"cloudledger: root disk saved as image {image_id}")


UPLOAD = Step(
    Instance,
    _snapshotting_here,
    _upload,
    all_of,  # the image's Uploaded records it
    "uploaded",
    what="Snapshot",
    fault=_failed,
)


def snapshot_instances(host: ComputeContext, ids: Sequence[UUID]) -> Outcomes:
    """Step 1; an instance whose image already holds the data (a step run
    again after its upload, or owed before the relay linked the two) is
    finished here, as step 2 would."""
    waiting, _ = load_waiting(host.app, Instance, ids, lambda i: _snapshotting_here(i, host))
    stored = [i.id for i in waiting if _stored(host.app, i)]
    outcomes = run_step(UPLOAD, host, [i for i in ids if i not in stored])
    if stored:
        outcomes.update(finish_snapshots(host, stored))
    return outcomes


def _done(app: CloudApp, instance_id: UUID) -> None:
    record.finish_snapshot(app, instance_id, succeeded=True)


def _uploaded(instance: Instance, context: LedgerContext) -> bool:
    return instance.task_state == TaskState.IMAGE_SNAPSHOT and _stored(context.app, instance)


FINISH = Step(
    Instance, _uploaded, lambda _context, _instance: None, one_by_one(_done), "snapshotted"
)


def finish_snapshots(context: LedgerContext, ids: Sequence[UUID]) -> Outcomes:
    """Step 2: the image holds the data, so the instance's task is over."""
    return run_step(FINISH, context, ids)
