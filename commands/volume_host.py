"""What the volume and compute hosts record about volumes: made, failed,
attached, unplugged, detached, deleted. Each saves together whatever must
change together (a volume and its quota; a volume and its server), and
each returns quietly when the work is already recorded (jobs run again)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from commands.app import CloudApp
from commands.compute import fail_instance
from commands.loading import load
from domain.errors import InvalidTransition, NotFound
from domain.instance import Instance
from domain.quota import Quota
from domain.values import Actor, VmState
from domain.volume import Volume
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_values import SnapshotStatus, VolumeStatus, volume_quota


def host_actor(role: str) -> Actor:
    """Work a host does on its own (the request that caused it is in the
    events before)."""
    return Actor(f"service:{role}", "", ("service",), f"req-{role}")


def load_volume(app: CloudApp, volume_id: UUID | str) -> Volume:
    return load(app, Volume, UUID(str(volume_id)), f"Volume {volume_id}")


def load_snapshot(app: CloudApp, snapshot_id: UUID | str) -> VolumeSnapshot:
    return load(app, VolumeSnapshot, UUID(str(snapshot_id)), f"Snapshot {snapshot_id}")


def _quota(app: CloudApp, volume: Volume | VolumeSnapshot) -> Quota:
    return load(app, Quota, Quota.create_id(volume.project_id), "Quota")


def _server(app: CloudApp, server_id: str) -> Instance | None:
    try:
        return load(app, Instance, UUID(server_id), f"Instance {server_id}")
    except (NotFound, ValueError):
        return None


# Made, extended, deleted by the volume host ---------------------------------


def mark_downloading(app: CloudApp, volume_id: UUID, actor: Actor) -> None:
    volume = load_volume(app, volume_id)
    if volume.status == VolumeStatus.CREATING:
        volume.mark_downloading(actor)
        app.save(volume)


def mark_available(
    app: CloudApp,
    volume_id: UUID,
    host: str,
    portal: str,
    actor: Actor,
    granted: Sequence[str] = (),
) -> None:
    """Made and exported; the attachments asked for at boot (``granted``)
    were let in on the way, so they are recorded in the same save."""
    volume = load_volume(app, volume_id)
    if volume.status in (VolumeStatus.CREATING, VolumeStatus.DOWNLOADING):
        volume.mark_available(host, portal, actor)
        for attachment_id in granted:
            if attachment_id in volume.attachments:
                volume.grant_access(attachment_id, actor)
        app.save(volume)


def fail_volume(app: CloudApp, volume_id: UUID, message: str, actor: Actor) -> None:
    """It could not be made; a server that was to boot from it fails too."""
    volume = load_volume(app, volume_id)
    if volume.status not in (VolumeStatus.CREATING, VolumeStatus.DOWNLOADING):
        return
    servers = [s for a in volume.attachments.values() if (s := _server(app, a["server_id"]))]
    volume.fail(message, actor)
    for server in servers:
        server.fail_volume_attach(str(volume.id), message, actor)
    app.save(volume, *servers)
    # A server that was to boot from it cannot: it fails too (its claim and
    # quota freed as for any failed build).
    for server in servers:
        if server.vm_state == VmState.BUILDING:
            with contextlib.suppress(InvalidTransition):
                fail_instance(app, server.id, "A volume the server boots with could not be made.")


def finish_delete(app: CloudApp, volume_id: UUID, actor: Actor) -> None:
    """Gone: its quota goes back in the same save."""
    volume = load_volume(app, volume_id)
    if volume.is_deleted or volume.status != VolumeStatus.DELETING:
        return
    volume.mark_deleted(actor)
    quota = _quota(app, volume)
    quota.release(str(volume.id), actor)
    app.save(volume, quota)


def fail_delete(app: CloudApp, volume_id: UUID, message: str, actor: Actor) -> None:
    volume = load_volume(app, volume_id)
    if volume.status == VolumeStatus.DELETING:
        volume.fail_delete(message, actor)
        app.save(volume)


def finish_extend(app: CloudApp, volume_id: UUID, actor: Actor) -> None:
    volume = load_volume(app, volume_id)
    if volume.status == VolumeStatus.EXTENDING:
        volume.mark_extended(actor)
        app.save(volume)


def fail_extend(app: CloudApp, volume_id: UUID, message: str, actor: Actor) -> None:
    """The size stays: the growth reserved goes back in the same save."""
    volume = load_volume(app, volume_id)
    if volume.status != VolumeStatus.EXTENDING:
        return
    volume.fail_extend(message, actor)
    quota = _quota(app, volume)
    quota.adjust(str(volume.id), volume_quota(volume.size, volume.volume_type_name), actor)
    app.save(volume, quota)


# Snapshots ----------------------------------------------------------------------


def finish_snapshot(app: CloudApp, snapshot_id: UUID, actor: Actor) -> None:
    snapshot = load_snapshot(app, snapshot_id)
    if snapshot.status == SnapshotStatus.CREATING:
        snapshot.mark_available(actor)
        app.save(snapshot)


def fail_snapshot(app: CloudApp, snapshot_id: UUID, message: str, actor: Actor) -> None:
    snapshot = load_snapshot(app, snapshot_id)
    if snapshot.status == SnapshotStatus.CREATING:
        snapshot.fail(message, actor)
        app.save(snapshot)


def finish_snapshot_delete(app: CloudApp, snapshot_id: UUID, actor: Actor) -> None:
    """Gone: its quota goes back and its volume forgets it, in one save."""
    snapshot = load_snapshot(app, snapshot_id)
    if snapshot.deleted or snapshot.status != SnapshotStatus.DELETING:
        return
    snapshot.mark_deleted(actor)
    quota = _quota(app, snapshot)
    quota.release(str(snapshot.id), actor)
    changed: list[Volume] = []
    try:
        volume = load_volume(app, snapshot.volume_id)
        volume.forget_snapshot(str(snapshot.id), actor)
        changed.append(volume)
    except NotFound:
        pass
    app.save(snapshot, quota, *changed)


def fail_snapshot_delete(app: CloudApp, snapshot_id: UUID, message: str, actor: Actor) -> None:
    snapshot = load_snapshot(app, snapshot_id)
    if snapshot.status == SnapshotStatus.DELETING:
        snapshot.fail_delete(message, actor)
        app.save(snapshot)


# Attachments: the volume host lets the initiator in, the compute host plugs ---


def grant_access(app: CloudApp, volume_id: UUID, attachment_id: str, actor: Actor) -> None:
    volume = load_volume(app, volume_id)
    found = volume.attachments.get(attachment_id)
    if found is not None and not found["access"] and found["status"] != "detaching":
        volume.grant_access(attachment_id, actor)
        app.save(volume)


def finish_attach(
    app: CloudApp, volume_id: UUID, attachment_id: str, now: datetime, actor: Actor
) -> None:
    """The disk is in the server: the volume in-use, the server's mapping attached."""
    volume = load_volume(app, volume_id)
    found = volume.attachments.get(attachment_id)
    if found is None or found["status"] != "attaching":
        return
    volume.mark_attached(attachment_id, now, actor)
    server = _server(app, found["server_id"])
    if server is not None and str(volume.id) in server.volumes:
        server.mark_volume_attached(str(volume.id), actor)
    app.save(volume, *([server] if server is not None else []))


def fail_attach(
    app: CloudApp, volume_id: UUID, attachment_id: str, message: str, actor: Actor
) -> None:
    volume = load_volume(app, volume_id)
    found = volume.attachments.get(attachment_id)
    if found is None or found["status"] not in ("attaching", "reserved"):
        return
    volume.fail_attach(attachment_id, message, actor)
    server = _server(app, found["server_id"])
    if server is not None:
        server.fail_volume_attach(str(volume.id), message, actor)
    app.save(volume, *([server] if server is not None else []))


def finish_unplug(app: CloudApp, volume_id: UUID, attachment_id: str, actor: Actor) -> None:
    """The compute host took the disk out (the volume host drops the ACL next)."""
    volume = load_volume(app, volume_id)
    found = volume.attachments.get(attachment_id)
    if found is None or found["status"] != "detaching" or found.get("unplugged"):
        return
    volume.mark_unplugged(attachment_id, actor)
    app.save(volume)


def fail_detach(
    app: CloudApp, volume_id: UUID, attachment_id: str, message: str, actor: Actor
) -> None:
    """The guest kept the disk: still attached, on both sides."""
    volume = load_volume(app, volume_id)
    found = volume.attachments.get(attachment_id)
    if found is None or found["status"] != "detaching" or found.get("unplugged"):
        return
    volume.fail_detach(attachment_id, message, actor)
    server = _server(app, found["server_id"])
    if server is not None:
        server.fail_volume_detach(str(volume.id), message, actor)
    app.save(volume, *([server] if server is not None else []))


def finish_detach(app: CloudApp, volume_id: UUID, attachment_id: str, actor: Actor) -> None:
    """The ACL is gone: the volume is free (and goes, if its server said so)."""
    volume = load_volume(app, volume_id)
    found = volume.attachments.get(attachment_id)
    if found is None or found["status"] != "detaching" or not found.get("unplugged"):
        return
    volume.mark_detached(attachment_id, actor)
    # A volume that has snapshots since stays (Cinder would refuse its delete).
    if found.get("delete_after") and not volume.attachments and not volume.snapshot_ids:
        volume.request_delete(actor)
    server = _server(app, found["server_id"])
    changed = [server] if server is not None and str(volume.id) in server.volumes else []
    for instance in changed:
        instance.mark_volume_detached(str(volume.id), actor)
    app.save(volume, *changed)


# Copies into images -----------------------------------------------------------------


def finish_upload(app: CloudApp, volume_id: UUID, actor: Actor) -> None:
    volume = load_volume(app, volume_id)
    if volume.status == VolumeStatus.UPLOADING:
        volume.mark_uploaded(actor)
        app.save(volume)


def fail_upload(app: CloudApp, volume_id: UUID, message: str, actor: Actor) -> None:
    volume = load_volume(app, volume_id)
    if volume.status == VolumeStatus.UPLOADING:
        volume.fail_upload(message, actor)
        app.save(volume)
