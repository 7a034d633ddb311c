"""What users change on a server without a job (its metadata, its tags, its
name and its description: one event each, saved at once), and snapshots,
which a job of its host finishes."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from commands.app import CloudApp
from commands.image_metadata import check_image_references
from commands.image_patch import check_new_properties
from commands.loading import load_many
from commands.receipt import Receipt
from commands.servers import owned_instance
from domain.errors import NotFound
from domain.image import Image
from domain.property_protections import PropertyProtections
from domain.values import Actor


def set_metadata(
    server_id: str, items: dict[str, str], replace: bool, app: CloudApp, actor: Actor
) -> Receipt:
    """Merge ``items`` into the metadata (POST), or make them all of it (PUT)."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    metadata = dict(items) if replace else {**instance.metadata, **items}
    instance.set_metadata(metadata, actor)
    return Receipt.of(instance.id, app.save(instance))


def delete_metadata_item(server_id: str, key: str, app: CloudApp, actor: Actor) -> Receipt:
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    if key not in instance.metadata:
        raise NotFound(f"Metadata item was not found: {key}")
    instance.set_metadata({k: v for k, v in instance.metadata.items() if k != key}, actor)
    return Receipt.of(instance.id, app.save(instance))


def update_server(
    server_id: str,
    name: str | None,
    description: str | None,
    app: CloudApp,
    actor: Actor,
    access: tuple[str | None, str | None] = (None, None),
) -> Receipt:
    """Rename, describe, or set the access addresses (IPv4, IPv6; None keeps one)."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    instance.update(
        instance.name if name is None else name,
        instance.description if description is None else description,
        actor,
    )
    instance.set_access_addresses(*access, actor)
    return Receipt.of(instance.id, app.save(instance))


def snapshot_server(
    server_id: str,
    name: str,
    metadata: dict[str, str],
    app: CloudApp,
    actor: Actor,
    protections: PropertyProtections | None = None,
) -> Receipt:
    """createImage: a queued, private image naming the server, and the
    server's snapshot task, in one save; its compute host uploads the data.
    The receipt names the image. The caller's ``metadata`` becomes image
    properties, so it passes the rules an image create's do (reserved and
    read-only names, property protections, the images it names)."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    check_new_properties(metadata, actor, protections)
    check_image_references(app, metadata, actor)
    # As Nova's: the caller's metadata may name the image_type, not the server.
    properties = {
        **_boot_properties(app, instance.image_id),
        "image_type": "snapshot",
        **metadata,
        "instance_uuid": str(instance.id),
        "base_image_ref": instance.image_id,
    }
    Image.validate_fields(name, instance.flavor.disk_gb, 0, properties)
    image = Image(
        owner=instance.project_id,
        name=name,
        disk_format="qcow2",
        container_format="bare",
        visibility="private",
        min_disk=instance.flavor.disk_gb,
        min_ram=0,
        properties=properties,
        actor=actor,
    )
    instance.request_snapshot(str(image.id), actor)
    return Receipt.of(image.id, app.save(image, instance))


# What a snapshot keeps of the image it was booted from, as Nova's does: a
# kernel-booted guest's snapshot must boot the same kernel.
INHERITED_PROPERTIES = (
    "kernel_id",
    "ramdisk_id",
    "os_command_line",
    "hw_architecture",
    "hypervisor_type",
    "img_hv_type",
    "os_distro",
)


def _boot_properties(app: CloudApp, image_id: str) -> dict[str, str]:
    base = load_many(app, Image, [UUID(image_id)]).get(UUID(image_id))
    if base is None:
        return {}
    return {k: base.properties[k] for k in INHERITED_PROPERTIES if k in base.properties}


def change_tags(
    server_id: str, change: Callable[[list[str]], list[str]], app: CloudApp, actor: Actor
) -> Receipt:
    """The server's tags made ``change(tags)``: one TagsSet event, or none
    if nothing changes. ``change`` raises NotFound for a tag that is not there."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    instance.set_tags(change(instance.tags), actor)
    return Receipt.of(instance.id, app.save(instance))
