"""Image commands: create the record, upload its bytes, delete."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from commands.app import CloudApp
from commands.image_metadata import check_image_references
from commands.image_patch import READ_ONLY, RESERVED
from commands.loading import load, parse_uuid
from commands.ports import ImageStore
from commands.receipt import Receipt
from domain.errors import Forbidden, NotFound
from domain.image import Image
from domain.property_protections import PropertyProtections
from domain.values import Actor

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
    for key in cmd.properties:
        if key in READ_ONLY or key == "owner":
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in RESERVED or key.startswith("os_glance"):
            raise Forbidden(f"Attribute '{key}' is reserved.")
        if protections is not None and not protections.allows(actor, "create", key):
            raise Forbidden(f"Property '{key}' is protected")
    check_image_references(app, cmd.properties)
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


def _owned_image(app: CloudApp, image_id: str, actor: Actor) -> Image:
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
    if image.properties.get("image_type") != "snapshot":
        raise Forbidden(f"You are not permitted to modify image {image_id}")
    return image


def upload_image(
    image_id: str,
    chunks: Iterable[bytes],
    app: CloudApp,
    store: ImageStore,
    actor: Actor,
) -> Receipt:
    """Store the bytes first, then record size and checksums; a failed upload
    leaves the image queued and the ledger unchanged. A compute host (the
    service role) uploads only snapshots, of any project."""
    if "service" in actor.roles:
        image = _snapshot_image(app, image_id)
    else:
        image = _owned_image(app, image_id, actor)
    if image.status != "queued":
        image.record_upload("", "", "", 0, actor)  # raises InvalidTransition
    blob = store.put(str(image.id), chunks, MAX_IMAGE_BYTES)
    image.record_upload(blob.md5, "sha512", blob.sha512, blob.size, actor)
    try:
        return Receipt.of(image.id, app.save(image))
    except Exception:
        store.delete(str(image.id))  # the ledger never saw these bytes
        raise


def delete_image(image_id: str, app: CloudApp, store: ImageStore, actor: Actor) -> Receipt:
    image = _owned_image(app, image_id, actor)
    image.delete(actor)
    receipt = Receipt.of(image.id, app.save(image))
    store.delete(str(image.id))
    return receipt
