"""Nova's os-volume_attachments: attach a volume to a server, detach it.
The Instance and the Volume change in one save, so neither can disagree
with the other."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from commands.app import CloudApp
from commands.loading import parse_uuid
from commands.receipt import Receipt
from commands.servers import owned_instance
from commands.volume_boot import same_project
from commands.volumes import visible_volume
from domain.errors import NotFound
from domain.values import Actor


@dataclass(frozen=True)
class Attached:
    """What an attach answers: the volume's device on the server."""

    receipt: Receipt
    device: str
    attachment_id: str


def attach_volume(
    server_id: str, volume_id: str, delete_on_termination: bool, app: CloudApp, actor: Actor
) -> Attached:
    """Attach to a live server the next free device (vdc, vdd ...). A volume
    in use or in error is refused (409) and nothing is appended."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    volume = visible_volume(app, volume_id, actor)
    same_project(instance, volume)
    attachment_id = str(uuid4())
    device = instance.request_volume_attach(
        str(volume.id), attachment_id, delete_on_termination, actor
    )
    volume.reserve_attachment(attachment_id, str(instance.id), instance.host or "", device, actor)
    return Attached(Receipt.of(volume.id, app.save(instance, volume)), device, attachment_id)


def detach_volume(server_id: str, volume_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """Detach a volume the server has (NotFound for any other)."""
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    key = _canonical(volume_id)
    if key not in instance.volumes:
        raise NotFound(f"Volume {volume_id} is not attached to instance {server_id}.")
    attachment_id = instance.request_volume_detach(key, actor)
    volume = visible_volume(app, key, actor)
    volume.request_detach(attachment_id, actor)
    return Receipt.of(volume.id, app.save(instance, volume))


def _canonical(volume_id: str) -> str:
    return str(parse_uuid(volume_id, f"Volume {volume_id}"))
