"""Glance's image import, glance-direct (domain/image_import.py): stage the
bytes (``PUT /images/{id}/stage``) into a staging store, then import them
(``POST /images/{id}/import``) into the image store, hashed again on the way
so the data made active is the data staged."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from uuid import UUID

from commands.app import CloudApp
from commands.image_inspection import InspectingStream, Inspection
from commands.images import MAX_IMAGE_BYTES, owned_image, refuse_upload, stream_into
from commands.loading import load
from commands.ports import ImageStore, StoredBlob
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Conflict
from domain.image import Image
from domain.image_safety import ImageDataRefused
from domain.values import Actor

log = logging.getLogger(__name__)


def stage_image(
    image_id: str,
    chunks: Iterable[bytes],
    app: CloudApp,
    staging: ImageStore,
    actor: Actor,
    max_size: int = MAX_IMAGE_BYTES,
    on_abort: Callable[[Receipt], None] | None = None,
) -> Receipt:
    """'uploading' while the bytes stream into staging, inspected on the way;
    a failed or refused staging goes back to 'queued' with nothing staged, as
    a failed or refused upload does."""
    upload_id = uuid.uuid4().hex
    uid, disk_format = retry_on_conflict(lambda: _start_staging(app, image_id, upload_id, actor))
    staging.delete(str(uid))  # staging again replaces what was staged
    inspected = InspectingStream(chunks, disk_format)

    def finish(blob: StoredBlob) -> Receipt:
        return _finish_staging(app, uid, upload_id, blob, actor)

    return stream_into(staging, inspected, max_size, finish, app, uid, upload_id, actor, on_abort)


def _start_staging(app: CloudApp, image_id: str, upload_id: str, actor: Actor) -> tuple[UUID, str]:
    image = owned_image(app, image_id, actor)
    image.start_staging(upload_id, actor)  # 409 before a byte is read
    app.save(image)
    return image.id, image.disk_format


def _finish_staging(
    app: CloudApp, image_id: UUID, upload_id: str, blob: StoredBlob, actor: Actor
) -> Receipt:
    image = load(app, Image, image_id, f"Image {image_id}")
    image.record_staged(blob.md5, blob.sha512, blob.size, upload_id, actor)
    return Receipt.of(image.id, app.save(image))


def import_image(
    image_id: str,
    method: str,
    app: CloudApp,
    store: ImageStore,
    staging: ImageStore,
    actor: Actor,
    max_size: int = MAX_IMAGE_BYTES,
) -> Receipt:
    """'importing' while the staged bytes go into the image store, inspected
    again on the way (staged bytes from before inspection, or changed since),
    then 'active'. A failure goes back to 'uploading', the staged bytes kept;
    refused bytes go back to 'queued', with nothing staged or stored."""
    uid, disk_format = retry_on_conflict(lambda: _start_import(app, image_id, method, actor))
    try:
        inspected = InspectingStream(staging.open(str(uid)), disk_format)
        blob = store.put(str(uid), inspected, max_size)
    except ImageDataRefused as exc:
        refuse_upload(app, uid, None, exc, actor, None)
        staging.delete(str(uid))
        raise
    except BaseException as exc:
        _fail_import(app, uid, exc, actor)
        raise
    try:
        receipt = retry_on_conflict(
            lambda: _finish_import(app, uid, blob, inspected.inspection, actor)
        )
    except BaseException as exc:
        store.delete(str(uid))  # the ledger never saw these bytes as the image's
        _fail_import(app, uid, exc, actor)
        raise
    staging.delete(str(uid))
    return receipt


def _start_import(app: CloudApp, image_id: str, method: str, actor: Actor) -> tuple[UUID, str]:
    image = owned_image(app, image_id, actor)
    image.start_import(method, actor)
    app.save(image)
    return image.id, image.disk_format


def _finish_import(
    app: CloudApp, image_id: UUID, blob: StoredBlob, inspection: Inspection, actor: Actor
) -> Receipt:
    image = load(app, Image, image_id, f"Image {image_id}")
    staged = image.staged or {}
    if (blob.sha512, blob.size) != (staged.get("hash_value"), staged.get("size")):
        raise Conflict(f"Image {image_id}: the staged data changed before its import")
    image.record_inspection(inspection.detected_format, inspection.virtual_size, actor)
    image.record_upload(blob.md5, "sha512", blob.sha512, blob.size, actor)
    return Receipt.of(image.id, app.save(image))


def _fail_import(app: CloudApp, image_id: UUID, cause: BaseException, actor: Actor) -> None:
    reason = f"{type(cause).__name__}: {cause}"

    def fail() -> None:
        image = load(app, Image, image_id, f"Image {image_id}")
        image.fail_import(reason, actor)
        app.save(image)

    try:
        retry_on_conflict(fail)
    except Exception:  # the failure that brought us here is what the caller hears
        log.exception("could not take image %s back to uploading", image_id)
