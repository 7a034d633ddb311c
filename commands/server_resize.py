"""Resize a server, then confirm or revert (domain/resize.py): the user's
side, each one atomic save of the instance with its quota and host claims.
The worker side is commands/resize_steps.py."""

from __future__ import annotations

from uuid import UUID

from commands.app import CloudApp
from commands.loading import BatchAggregates, load
from commands.receipt import Receipt
from commands.resize_claims import confirm_into
from commands.servers import bootable_flavor, owned_instance
from domain.errors import InvalidInput, NotFound
from domain.image import Image
from domain.instance import Instance
from domain.quota import Quota
from domain.values import Actor, FlavorSnapshot


def quota_amounts(flavor: FlavorSnapshot) -> dict[str, int]:
    """What one instance of this flavor holds of its project's quota."""
    return {"instances": 1, "cores": flavor.vcpus, "ram": flavor.ram_mb}


def resize_server(server_id: str, flavor_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """Ask for the new flavor; the quota moves to it in the same save (so a
    resize past the quota is refused here, 403), the scheduler then claims it."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    flavor = bootable_flavor(app, flavor_id, actor)
    _check_image_fits(app, instance, flavor.ram_mb, flavor.disk_gb)
    new = flavor.snapshot()
    instance.request_resize(new, actor)
    quota = load(app, Quota, Quota.create_id(instance.project_id), "Quota")
    quota.adjust(str(instance.id), quota_amounts(new), actor)
    return Receipt.of(instance.id, app.save(instance, quota))


def _check_image_fits(app: CloudApp, instance: Instance, ram_mb: int, disk_gb: int) -> None:
    """As at boot: the image's minimums (an image deleted since imposes none)."""
    try:
        image = load(app, Image, UUID(instance.image_id), "Image")
    except (ValueError, NotFound):
        return
    if disk_gb and image.min_disk > disk_gb:
        raise InvalidInput("Flavor's disk is too small for requested image.")
    if image.min_ram > ram_mb:
        raise InvalidInput("Flavor's memory is too small for requested image.")


def confirm_resize(server_id: str, app: CloudApp, actor: Actor) -> Receipt:
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    batch = BatchAggregates(app)
    confirm_into(batch, instance, actor)
    return Receipt.of(instance.id, app.save(instance, *batch.loaded.values()))


def revert_resize(server_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """Back to the old flavor: the quota moves back now (403 if it no longer
    fits), the hosts put the old guest back."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    old = instance.resize_from
    instance.request_revert(actor)
    assert old is not None, "a resized instance knows its old flavor"
    quota = load(app, Quota, Quota.create_id(instance.project_id), "Quota")
    quota.adjust(str(instance.id), quota_amounts(old), actor)
    return Receipt.of(instance.id, app.save(instance, quota))
