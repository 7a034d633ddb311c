"""Image metadata commands: the JSON-patch, tags, deactivation and members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from commands.app import CloudApp
from commands.identity import load_project
from commands.image_patch import Change, change_of
from commands.loading import load, parse_uuid
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.image import Image
from domain.property_protections import PropertyProtections
from domain.values import Actor

# Properties that name other images, and the disk format those must have.
IMAGE_REFERENCES = {"kernel_id": "aki", "ramdisk_id": "ari"}


def _visible_image(app: CloudApp, image_id: str, actor: Actor) -> Image:
    label = f"Image {image_id}"
    image = load(app, Image, parse_uuid(image_id, label), label)
    if not image.visible_to(actor.project_id, actor.is_admin):
        raise NotFound(f"No image found with ID {image_id}")
    return image


def _owned(app: CloudApp, image_id: str, actor: Actor) -> Image:
    image = _visible_image(app, image_id, actor)
    if not (actor.is_admin or image.owner == actor.project_id):
        raise Forbidden(f"You are not permitted to modify image {image_id}.")
    return image


def check_image_references(app: CloudApp, properties: dict[str, str], actor: Actor) -> None:
    """``kernel_id`` and ``ramdisk_id`` name aki / ari images the caller may
    see. An id it may not see is answered as an unknown one: the answer must
    not tell whether another project's private image exists."""
    for key, disk_format in IMAGE_REFERENCES.items():
        if key not in properties:
            continue
        ref = referenced_image(app, properties[key], actor)
        if ref is None:
            raise InvalidInput(f"{key} {properties[key][:64]!r} names no image")
        if ref.disk_format != disk_format:
            raise InvalidInput(f"{key} must name an image of disk_format {disk_format}")


def referenced_image(app: CloudApp, image_id: str, actor: Actor) -> Image | None:
    """The image ``image_id`` names if ``actor`` may see it, else None
    (malformed, unknown, deleted and invisible alike)."""
    try:
        image = load(app, Image, UUID(image_id), "Image")
    except (ValueError, TypeError, AttributeError, NotFound):
        return None
    return image if image.visible_to(actor.project_id, actor.is_admin) else None


def _save(app: CloudApp, image: Image) -> Receipt:
    return Receipt.of(image.id, app.save(image))


def patch_image(
    image_id: str,
    ops: list[dict[str, Any]],
    app: CloudApp,
    actor: Actor,
    protections: PropertyProtections | None = None,
) -> Receipt:
    image = _owned(app, image_id, actor)
    change = change_of(image, ops, actor, protections)
    return apply_change(image, change, app, actor)


def apply_change(image: Image, change: Change, app: CloudApp, actor: Actor) -> Receipt:
    check_image_references(app, change.properties, actor)
    if not image.update(change.core, change.properties, change.removed, actor):
        return Receipt(image.id)
    return _save(app, image)


def change_tags(
    image_id: str, change: Callable[[list[str]], list[str]], app: CloudApp, actor: Actor
) -> Receipt:
    image = _owned(app, image_id, actor)
    return apply_change(image, Change(core={"tags": change(list(image.tags))}), app, actor)


def set_active(image_id: str, active: bool, app: CloudApp, actor: Actor) -> Receipt:
    """Reactivate or deactivate (who may is policy, admins by default)."""
    image = _visible_image(app, image_id, actor)
    if active:
        image.reactivate(actor)
    else:
        image.deactivate(actor)
    return _save(app, image)


def _member_id(member_id: str) -> str:
    """Project ids as tokens carry them (hex); a malformed id names none."""
    try:
        return UUID(member_id).hex
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"Project {member_id} could not be found.") from None


def add_member(image_id: str, member_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """Share the image with a project. Only an admin, who may list every
    project, is told that none has that id; a tenant may not learn which
    projects exist, so any well-formed id is taken, as Glance takes it."""
    image = _owned(app, image_id, actor)
    try:
        member = _member_id(member_id)
    except NotFound as exc:
        raise InvalidInput(exc.message) from None
    if image.visibility != "shared":
        raise Forbidden("Only shared images have members.")
    if actor.is_admin:
        try:
            load_project(app, member)
        except NotFound:
            raise InvalidInput(f"Project {member_id} could not be found.") from None
    image.add_member(member, actor)
    return _save(app, image)


def set_member_status(
    image_id: str, member_id: str, status: str, app: CloudApp, actor: Actor
) -> Receipt:
    """Only the member answers for itself (Glance)."""
    image = _visible_image(app, image_id, actor)
    member = _member_id(member_id)
    if member != actor.project_id:
        raise Forbidden("You are not permitted to modify 'status' on this image member.")
    if not image.set_member_status(member, status, actor):
        return Receipt(image.id)
    return _save(app, image)


def remove_member(image_id: str, member_id: str, app: CloudApp, actor: Actor) -> Receipt:
    image = _owned(app, image_id, actor)
    image.remove_member(_member_id(member_id), actor)
    return _save(app, image)


class ImageMetadataCommands:
    """The image metadata commands on ``Services``, retried on a conflict."""

    app: CloudApp

    def patch_image(
        self,
        image_id: str,
        ops: list[dict[str, Any]],
        actor: Actor,
        protections: PropertyProtections | None = None,
    ) -> Receipt:
        return retry_on_conflict(lambda: patch_image(image_id, ops, self.app, actor, protections))

    def change_image_tags(
        self, image_id: str, change: Callable[[list[str]], list[str]], actor: Actor
    ) -> Receipt:
        return retry_on_conflict(lambda: change_tags(image_id, change, self.app, actor))

    def set_image_active(self, image_id: str, active: bool, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: set_active(image_id, active, self.app, actor))

    def add_image_member(self, image_id: str, member_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: add_member(image_id, member_id, self.app, actor))

    def set_image_member_status(
        self, image_id: str, member_id: str, status: str, actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: set_member_status(image_id, member_id, status, self.app, actor)
        )

    def remove_image_member(self, image_id: str, member_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: remove_member(image_id, member_id, self.app, actor))
