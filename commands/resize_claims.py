"""What a resize holds on its hosts, released or renamed as it ends: shared
by the user's commands (confirm, and delete while waiting for a confirm)."""

from __future__ import annotations

from commands.loading import BatchAggregates
from domain.host import ComputeHost
from domain.instance import Instance
from domain.resize import resize_claim_key
from domain.values import Actor


def confirm_into(batch: BatchAggregates, instance: Instance, actor: Actor) -> None:
    """Confirm: the source's claim goes, the destination's becomes the
    instance's claim, and the source is asked to drop the old disks. Also
    the first step of deleting a server that waits in VERIFY_RESIZE."""
    source = instance.resize_source
    instance.confirm_resize(actor)
    _host(batch, str(source)).release(str(instance.id), actor)
    dest = _host(batch, str(instance.host))
    dest.rename_claim(resize_claim_key(instance.id), str(instance.id), actor)
    instance.request_stash_drop(actor)


def _host(batch: BatchAggregates, name: str) -> ComputeHost:
    return batch.get(ComputeHost, ComputeHost.create_id(name))
