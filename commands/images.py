"""Image commands: create the record, upload its bytes, delete."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from commands.app import CloudApp
from commands.image_inspection import InspectingStream, Inspection
from commands.image_metadata import check_image_references
from commands.image_patch import check_new_properties
from commands.loading import load, load_many, parse_uuid
from commands.ports import ImageStore, StoredBlob
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.image import Image
from domain.image_safety import ImageDataRefused
from domain.instance import Instance
from domain.property_protections import PropertyProtections
from domain.values import Actor

log = logging.getLogger(__name__)

# Glance's image_size_cap default is 1 TiB; ours, unless configured, 20 GiB.
MAX_IMAGE_BYTES = 20 * 1024**3


@dataclass(frozen=True)
class CreateImage:
    name: str
    disk_format: str = "qcow2"
    container_format: str = "bare"
    visibility: str = "shared"
    min_disk: int = 0
    min_ram: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    protected: bool = False
    os_hidden: bool = False


def create_image(
    cmd: CreateImage,
    app: CloudApp,
    actor: Actor,
    protections: PropertyProtections | None = None,
) -> Receipt:
    """Who may make an image public is policy (``image:publicize_image``),
    which the API checks before it calls this. Tags and the flags are
    recorded as an ``Updated`` in the same save."""
    Image.validate(cmd.disk_format, cmd.container_format, cmd.visibility)
    Image.validate_fields(cmd.name, cmd.min_disk, cmd.min_ram, cmd.properties)
    check_new_properties(cmd.properties, actor, protections)
    check_image_references(app, cmd.properties, actor)
    image = Image(
        owner=actor.project_id,
        name=cmd.name,
        disk_format=cmd.disk_format,
        container_format=cmd.container_format,
        visibility=cmd.visibility,
        min_disk=cmd.min_disk,
        min_ram=cmd.min_ram,
        properties=cmd.properties,
        actor=actor,
    )
    extra = {"tags": cmd.tags, "protected": cmd.protected, "os_hidden": cmd.os_hidden}
    image.update(extra, {}, [], actor)
    return Receipt.of(image.id, app.save(image))


def require_fits_root_disk(image: Image, root_gb: int) -> None:
    """Nova's FlavorDiskSmallerThanImage, before anything reaches a host: the
    image's bytes, or the disk they describe (its virtual size, once
    inspected), must fit a flavor's root disk of ``root_gb`` GiB (0: any)."""
    flavor_size = root_gb * 1024**3
    image_size = max(image.size or 0, image.virtual_size or 0)
    if flavor_size and image_size > flavor_size:
        raise InvalidInput(
            "Flavor's disk is too small for requested image. Flavor disk is "
            f"{flavor_size} bytes, image is {image_size} bytes."
        )


def owned_image(app: CloudApp, image_id: str, actor: Actor) -> Image:
    label = f"Image {image_id}"
    image = load(app, Image, parse_uuid(image_id, label), label)
    if not image.visible_to(actor.project_id, actor.is_admin):
        raise NotFound(f"{label} could not be found.")
    if not (actor.is_admin or image.owner == actor.project_id):
        raise Forbidden(f"You are not permitted to modify image {image_id}")
    return image


def _snapshot_image(app: CloudApp, image_id: str) -> Image:
    label = f"Image {image_id}"
    image = load(app, Image, parse_uuid(image_id, label), label)
    # A compute host's snapshot, or a volume host's copy of a volume
    # (commands/volume_upload.py): the only images a service fills.
    if not (_awaits_snapshot(app, image) or image.properties.get("image_type") == "volume"):
        raise Forbidden(f"You are not permitted to modify image {image_id}")
    return image


def _awaits_snapshot(app: CloudApp, image: Image) -> bool:
    """The server the image names asked for it as its snapshot (its latest
    createImage, which a host may still be uploading as the server goes).
    Not its ``image_type``: createImage's metadata may set that, as Nova's."""
    try:
        server_id = UUID(image.properties.get("instance_uuid", ""))
    except ValueError:
        return False
    instance = load_many(app, Instance, [server_id]).get(server_id)
    return getattr(instance, "snapshot_image_id", None) == str(image.id)


def upload_image(
    image_id: str,
    chunks: Iterable[bytes],
    app: CloudApp,
    store: ImageStore,
    actor: Actor,
    max_size: int = MAX_IMAGE_BYTES,
    on_abort: Callable[[Receipt], None] | None = None,
) -> Receipt:
    """Mark the image 'saving', stream the bytes into the store (hashed and
    inspected as they pass), then record what they are, their size and
    checksums. An upload that fails (the client went away, past
    ``max_size``) takes the image back to 'queued' (whose receipt goes to
    ``on_abort``, so the caller can wait for its reads), leaves no bytes
    stored, and raises what failed; bytes that are not the image's
    ``disk_format``, or not safe to open, are refused the same way
    (ImageDataRefused, recorded as ImageSafety.UploadRefused). A compute host (the
    service role) uploads only snapshots and volumes' copies, of any project."""
    upload_id = uuid.uuid4().hex
    # Each step reloads and retries on a concurrent write (another upload, a delete).
    uid, disk_format = retry_on_conflict(lambda: _start_upload(app, image_id, upload_id, actor))
    inspected = InspectingStream(chunks, disk_format)

    def finish(blob: StoredBlob) -> Receipt:
        return _finish_upload(app, uid, upload_id, blob, inspected.inspection, actor)

    return stream_into(store, inspected, max_size, finish, app, uid, upload_id, actor, on_abort)


def stream_into(
    store: ImageStore,
    chunks: Iterable[bytes],
    max_size: int,
    finish: Callable[[StoredBlob], Receipt],
    app: CloudApp,
    image_id: UUID,
    upload_id: str,
    actor: Actor,
    on_abort: Callable[[Receipt], None] | None,
) -> Receipt:
    """The bytes into ``store``, then recorded by ``finish`` (retried on a
    concurrent write). On any failure the image goes back to 'queued', no
    bytes stay stored, and what failed is raised (an upload, or a staging)."""
    try:
        blob = store.put(str(image_id), chunks, max_size)
    except ImageDataRefused as exc:
        refuse_upload(app, image_id, upload_id, exc, actor, on_abort)
        raise
    except BaseException as exc:
        abort_upload(app, image_id, upload_id, exc, actor, on_abort)
        raise
    try:
        return retry_on_conflict(lambda: finish(blob))
    except BaseException as exc:
        store.delete(str(image_id))  # the ledger never saw these bytes
        abort_upload(app, image_id, upload_id, exc, actor, on_abort)
        raise


def _start_upload(app: CloudApp, image_id: str, upload_id: str, actor: Actor) -> tuple[UUID, str]:
    image = _uploadable(app, image_id, actor)
    image.start_upload(upload_id, actor)  # raises InvalidTransition (409) before a byte is read
    app.save(image)
    return image.id, image.disk_format


def _finish_upload(
    app: CloudApp,
    image_id: UUID,
    upload_id: str,
    blob: StoredBlob,
    inspection: Inspection,
    actor: Actor,
) -> Receipt:
    image = load(app, Image, image_id, f"Image {image_id}")  # a later upload may have taken it
    image.record_inspection(inspection.detected_format, inspection.virtual_size, actor)
    image.record_upload(blob.md5, "sha512", blob.sha512, blob.size, actor, upload_id)
    return Receipt.of(image.id, app.save(image))


def _uploadable(app: CloudApp, image_id: str, actor: Actor) -> Image:
    if "service" in actor.roles:
        return _snapshot_image(app, image_id)
    return owned_image(app, image_id, actor)


def abort_upload(
    app: CloudApp,
    image_id: UUID,
    upload_id: str,
    cause: BaseException,
    actor: Actor,
    on_abort: Callable[[Receipt], None] | None,
) -> None:
    """Best effort: the failure that brought us here is what the caller hears.
    If this fails too, the image stays 'saving' until the next upload takes it."""
    reason = f"{type(cause).__name__}: {cause}"[:255]

    def abort() -> None:
        image = load(app, Image, image_id, "Image")
        if image.abort_upload(upload_id, reason, actor):
            receipt = Receipt.of(image.id, app.save(image))
            if on_abort is not None:
                on_abort(receipt)

    try:
        retry_on_conflict(abort)
    except Exception:
        log.exception("could not take image %s back to queued", image_id)


def refuse_upload(
    app: CloudApp,
    image_id: UUID,
    upload_id: str | None,
    refusal: ImageDataRefused,
    actor: Actor,
    on_abort: Callable[[Receipt], None] | None,
) -> None:
    """Record who sent what was refused, and why; the image is back to 'queued'.
    Best effort, as abort_upload: the refusal is what the caller hears."""
    log.warning("image %s: data refused for %s: %s", image_id, actor.user_id, refusal.reason)

    def refuse() -> None:
        image = load(app, Image, image_id, "Image")
        if image.refuse_data(upload_id, refusal.reason, refusal.detected_format, actor):
            receipt = Receipt.of(image.id, app.save(image))
            if on_abort is not None:
                on_abort(receipt)

    try:
        retry_on_conflict(refuse)
    except Exception:
        log.exception("could not record the refusal of image %s's data", image_id)


def delete_image(image_id: str, app: CloudApp, store: ImageStore, actor: Actor) -> Receipt:
    image = owned_image(app, image_id, actor)
    image.delete(actor)
    receipt = Receipt.of(image.id, app.save(image))
    store.delete(str(image.id))
    return receipt
