"""What users do to a volume after it exists: delete, extend, rename,
metadata, bootable and read-only flags, reserve; and an admin's reset of its
status. Each loads, decides and saves once (the API retries on a conflict)."""

from __future__ import annotations

from collections.abc import Callable

from commands.app import CloudApp
from commands.loading import load
from commands.receipt import Receipt
from commands.volumes import visible_volume
from domain.quota import Quota
from domain.values import Actor
from domain.volume_values import volume_quota

# Whether the volume hosts can grow a volume that a guest has attached: not
# yet (tgt keeps the LUN's size until it is added again, and the guest needs
# a block resize), so an in-use volume is refused as before Cinder 3.42.
EXTEND_IN_USE = False


def delete_volume(volume_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """Ask the volume host to zero and remove it; its quota goes when it is gone."""
    volume = visible_volume(app, volume_id, actor)
    volume.request_delete(actor)
    return Receipt.of(volume.id, app.save(volume))


def extend_volume(volume_id: str, new_size: int, app: CloudApp, actor: Actor) -> Receipt:
    """Grow it: the growth is reserved on the quota in the same save."""
    volume = visible_volume(app, volume_id, actor)
    volume.request_extend(new_size, actor, in_use=EXTEND_IN_USE)
    quota = load(app, Quota, Quota.create_id(volume.project_id), "Quota")
    quota.adjust(str(volume.id), volume_quota(new_size, volume.volume_type_name), actor)
    return Receipt.of(volume.id, app.save(volume, quota))


def update_volume(
    volume_id: str, name: str | None, description: str | None, app: CloudApp, actor: Actor
) -> Receipt:
    volume = visible_volume(app, volume_id, actor)
    volume.update(
        volume.name if name is None else name,
        volume.description if description is None else description,
        actor,
    )
    return Receipt.of(volume.id, app.save(volume))


def change_metadata(
    volume_id: str,
    change: Callable[[dict[str, str]], dict[str, str]],
    app: CloudApp,
    actor: Actor,
) -> Receipt:
    """``change`` turns the current metadata into the new (merge, replace, drop a key)."""
    volume = visible_volume(app, volume_id, actor)
    volume.set_metadata(change(dict(volume.metadata)), actor)
    return Receipt.of(volume.id, app.save(volume))


def set_bootable(volume_id: str, bootable: bool, app: CloudApp, actor: Actor) -> Receipt:
    volume = visible_volume(app, volume_id, actor)
    volume.set_bootable(bootable, actor)
    return Receipt.of(volume.id, app.save(volume))


def set_readonly(volume_id: str, readonly: bool, app: CloudApp, actor: Actor) -> Receipt:
    volume = visible_volume(app, volume_id, actor)
    volume.set_readonly(readonly, actor)
    return Receipt.of(volume.id, app.save(volume))


def reserve_volume(volume_id: str, reserve: bool, app: CloudApp, actor: Actor) -> Receipt:
    """Cinder's os-reserve (True) and os-unreserve (False)."""
    volume = visible_volume(app, volume_id, actor)
    if reserve:
        volume.reserve(actor)
    else:
        volume.unreserve(actor)
    return Receipt.of(volume.id, app.save(volume))


def reset_volume_status(volume_id: str, status: str, app: CloudApp, actor: Actor) -> Receipt:
    """An admin's os-reset_status (the API checks the policy)."""
    volume = visible_volume(app, volume_id, actor)
    volume.reset_status(status, actor)
    return Receipt.of(volume.id, app.save(volume))
