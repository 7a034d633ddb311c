"""The compute host's image cache upkeep (Nova's remove_unused_base_images),
and what the cache holds, for `cloudledger image-cache`.

Both run as jobs on the host's own queue, so they never race its spawns: the
worker takes one job at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from commands.loading import load, load_many
from domain.host import ComputeHost
from domain.instance import Instance
from workers import routes
from workers.periodic import enqueue_every
from workers.runtime import ComputeContext

log = logging.getLogger(__name__)

PRUNE_FUNC = "workers.jobs.image_cache.prune_job"
LIST_FUNC = "workers.jobs.image_cache.list_job"


def images_in_use(host: ComputeContext) -> set[str]:
    """The images of every instance the ledger places on this host: each one
    claims room here from scheduling until its delete is done, so its disks
    (and the base image they back onto) exist only while the claim does."""
    record = load(host.app, ComputeHost, ComputeHost.create_id(host.name), f"Host {host.name}")
    claimed = load_many(host.app, Instance, record.instances_claimed())
    return {i.image_id for i in claimed.values()}


def prune_image_cache(host: ComputeContext, now: float, max_age: float) -> dict[str, str]:
    """Refresh the last use of images in use; remove those unused for ``max_age``."""
    host.images.sweep()
    in_use = images_in_use(host)
    outcomes = {}
    for entry in host.images.entries():
        if entry.image_id in in_use:
            host.images.mark_used(entry.image_id, now)
            outcomes[entry.image_id] = "in use"
        elif now - entry.last_used >= max_age:
            host.images.remove(entry.image_id)
            host.image_facts.pop(entry.image_id, None)
            outcomes[entry.image_id] = "removed"
        else:
            outcomes[entry.image_id] = "kept"
    return outcomes


def prune_job(host: ComputeContext, max_age: float) -> dict[str, str]:
    """RQ's entry point (enqueued by the host's own worker, periodically)."""
    outcomes = prune_image_cache(host, time.time(), max_age)
    if "removed" in outcomes.values():
        log.info(
            "image cache: removed %s", sorted(k for k, v in outcomes.items() if v == "removed")
        )
    return outcomes


def list_job(host: ComputeContext) -> list[dict[str, object]]:
    """What the cache holds, each image with its size, last use and whether in use."""
    in_use = images_in_use(host)
    return [
        {**entry.__dict__, "in_use": entry.image_id in in_use} for entry in host.images.entries()
    ]


def prune_periodically(
    redis_url: str, host_name: str, interval: float, max_age: float, stop: threading.Event
) -> Callable[[], None]:
    """A loop for a thread of the host's worker: every ``interval`` seconds, put
    one prune job on the host's queue (none while the last still waits)."""
    queue, job_id = routes.COMPUTE.queue(host_name), f"image-cache-prune-{host_name}"
    return enqueue_every(redis_url, queue, interval, PRUNE_FUNC, (max_age,), job_id, stop)
