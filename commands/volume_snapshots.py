"""Snapshots of volumes: taken (of an available volume, or of an attached
one with ``force``), renamed, given metadata, deleted. A snapshot holds
quota (one snapshot, and its volume's size) from its request to its end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from commands.app import CloudApp
from commands.loading import load
from commands.receipt import Receipt
from commands.volumes import visible_snapshot, visible_volume
from domain.quota import Quota
from domain.values import Actor
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_values import snapshot_quota


@dataclass(frozen=True)
class CreateSnapshot:
    volume_id: str
    name: str = ""
    description: str = ""
    force: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


def create_snapshot(cmd: CreateSnapshot, app: CloudApp, actor: Actor) -> Receipt:
    """The snapshot, its quota and the note on its volume in one save, so a
    volume being deleted cannot be snapshotted, nor one being snapshotted deleted."""
    VolumeSnapshot.validate(cmd.name, cmd.description, cmd.metadata)
    volume = visible_volume(app, cmd.volume_id, actor)
    snapshot = VolumeSnapshot(
        project_id=volume.project_id,
        user_id=actor.user_id,
        volume_id=str(volume.id),
        name=cmd.name,
        description=cmd.description,
        size=volume.size,
        volume_type_name=volume.volume_type_name,
        metadata=dict(cmd.metadata),
        force=cmd.force,
        actor=actor,
    )
    volume.note_snapshot(str(snapshot.id), cmd.force, actor)
    quota = load(app, Quota, Quota.create_id(volume.project_id), "Quota")
    quota.reserve(str(snapshot.id), snapshot_quota(volume.size, volume.volume_type_name), actor)
    return Receipt.of(snapshot.id, app.save(quota, volume, snapshot))


def delete_snapshot(snapshot_id: str, app: CloudApp, actor: Actor) -> Receipt:
    snapshot = visible_snapshot(app, snapshot_id, actor)
    snapshot.request_delete(actor)
    return Receipt.of(snapshot.id, app.save(snapshot))


def update_snapshot(
    snapshot_id: str, name: str | None, description: str | None, app: CloudApp, actor: Actor
) -> Receipt:
    snapshot = visible_snapshot(app, snapshot_id, actor)
    snapshot.update(
        snapshot.name if name is None else name,
        snapshot.description if description is None else description,
        actor,
    )
    return Receipt.of(snapshot.id, app.save(snapshot))


def change_snapshot_metadata(
    snapshot_id: str,
    change: Callable[[dict[str, str]], dict[str, str]],
    app: CloudApp,
    actor: Actor,
) -> Receipt:
    snapshot = visible_snapshot(app, snapshot_id, actor)
    snapshot.set_metadata(change(dict(snapshot.metadata)), actor)
    return Receipt.of(snapshot.id, app.save(snapshot))


def reset_snapshot_status(snapshot_id: str, status: str, app: CloudApp, actor: Actor) -> Receipt:
    snapshot = visible_snapshot(app, snapshot_id, actor)
    snapshot.reset_status(status, actor)
    return Receipt.of(snapshot.id, app.save(snapshot))
