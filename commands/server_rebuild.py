"""Rebuild a server from an image (Nova's ``rebuild`` action): the image
must be one the caller may boot and fit the server's flavor; the name,
metadata and access addresses given change in the same save."""

from __future__ import annotations

from dataclasses import dataclass

from commands.app import CloudApp
from commands.receipt import Receipt
from commands.servers import bootable_image, owned_instance
from domain.errors import InvalidInput
from domain.values import Actor


@dataclass(frozen=True)
class RebuildServer:
    server_id: str
    image_id: str
    name: str | None = None  # None: keep
    metadata: dict[str, str] | None = None  # None: keep; else the whole new metadata
    access_ipv4: str | None = None
    access_ipv6: str | None = None


def rebuild_server(cmd: RebuildServer, app: CloudApp, actor: Actor) -> Receipt:
    instance = owned_instance(app, cmd.server_id, actor)
    instance.require_unlocked(actor)
    image = bootable_image(app, cmd.image_id, actor)
    flavor = instance.flavor
    if flavor.disk_gb and image.min_disk > flavor.disk_gb:
        raise InvalidInput("Flavor's disk is too small for requested image.")
    if image.min_ram > flavor.ram_mb:
        raise InvalidInput("Flavor's memory is too small for requested image.")
    if cmd.name is not None:
        instance.update(cmd.name, instance.description, actor)
    if cmd.metadata is not None:
        instance.set_metadata(dict(cmd.metadata), actor)
    instance.set_access_addresses(cmd.access_ipv4, cmd.access_ipv6, actor)
    instance.request_rebuild(str(image.id), actor)
    return Receipt.of(instance.id, app.save(instance))
