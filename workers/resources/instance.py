"""The Instance on the worker side, resize included: the scheduler's queue
and each compute host's, the roles that serve them, what each event owes,
what completes it, and the job that does it."""

from __future__ import annotations

from domain.image import Image
from domain.instance import Instance
from domain.rebuild import Rebuilding
from domain.resize import Resizing
from workers.declarations import Link, Placement, QueueFamily, Role, Route, Via, WorkerResource

SCHEDULER = QueueFamily("scheduler")
COMPUTE = QueueFamily("compute", per_host=True)

_JOBS = "workers.jobs"
# A delete supersedes whatever the host was doing; a failure ends it.
_ENDED = (Instance.Failed, Instance.DeleteRequested, Instance.Deleted)

# A snapshot's instance waits for its image to receive the data: that event
# ends the host's upload step and owes the step that ends the instance's task.
SNAPSHOT = Link(
    "instance.snapshot", Instance.SnapshotRequested, "image_id", (Instance.SnapshotDone, *_ENDED)
)
SNAPSHOT_STORED = Via(SNAPSHOT, Image.Uploaded)

ROUTES = (
    Route(
        "instance.schedule",
        Instance.Requested,
        SCHEDULER,
        (Instance.Scheduled, Instance.Failed, Instance.Deleted),
        f"{_JOBS}.scheduler:schedule_instances",
    ),
    Route(
        "instance.spawn",
        Instance.Scheduled,
        COMPUTE,
        (Instance.Spawned, *_ENDED),
        f"{_JOBS}.compute:spawn_instances",
    ),
    Route(
        "instance.stop",
        Instance.StopRequested,
        COMPUTE,
        (Instance.Stopped, *_ENDED),
        f"{_JOBS}.compute:stop_instances",
    ),
    Route(
        "instance.start",
        Instance.StartRequested,
        COMPUTE,
        (Instance.Started, *_ENDED),
        f"{_JOBS}.compute:start_instances",
    ),
    # Reboots, pauses, suspends and their undoing (domain/power.py).
    Route(
        "instance.power",
        Instance.PowerActionRequested,
        COMPUTE,
        (Instance.PowerActionDone, *_ENDED),
        f"{_JOBS}.compute:power_instances",
    ),
    Route(
        "instance.rebuild",
        Rebuilding.RebuildRequested,
        COMPUTE,
        (Rebuilding.Rebuilt, *_ENDED),
        f"{_JOBS}.rebuild:rebuild_instances",
    ),
    # The host uploads the root disk; the image's Uploaded ends that step,
    # and owes the one that records the snapshot done (any worker can).
    Route(
        "instance.snapshot",
        Instance.SnapshotRequested,
        COMPUTE,
        (Instance.SnapshotDone, *_ENDED, SNAPSHOT_STORED),
        f"{_JOBS}.snapshot:snapshot_instances",
    ),
    Route(
        "instance.snapshot_done",
        SNAPSHOT_STORED,
        SCHEDULER,
        (Instance.SnapshotDone, *_ENDED),
        f"{_JOBS}.snapshot:finish_snapshots",
    ),
    # Resize (domain/resize.py): the scheduler, the source, the destination;
    # a revert goes back the other way.
    Route(
        "instance.resize_schedule",
        Resizing.ResizeRequested,
        SCHEDULER,
        (Resizing.ResizeScheduled, Resizing.ResizeRefused, *_ENDED),
        f"{_JOBS}.resize:schedule_resizes",
    ),
    Route(
        "instance.resize_migrate",
        Resizing.ResizeScheduled,
        COMPUTE,
        (Resizing.ResizeMigrated, *_ENDED),
        f"{_JOBS}.resize:migrate_instances",
    ),
    Route(
        "instance.resize_finish",
        Resizing.ResizeMigrated,
        COMPUTE,
        (Resizing.ResizeFinished, *_ENDED),
        f"{_JOBS}.resize:finish_resizes",
        host_field="dest_host",
    ),
    Route(
        "instance.revert_dest",
        Resizing.RevertRequested,
        COMPUTE,
        (Resizing.RevertDestCleaned, *_ENDED),
        f"{_JOBS}.resize:revert_at_dest",
    ),
    Route(
        "instance.revert_source",
        Resizing.RevertDestCleaned,
        COMPUTE,
        (Resizing.ResizeReverted, *_ENDED),
        f"{_JOBS}.resize:revert_at_source",
        host_field="source_host",
    ),
    # The old disks go even if the instance is deleted meanwhile.
    Route(
        "instance.drop_stash",
        Resizing.StashDropRequested,
        COMPUTE,
        (Resizing.StashDropped,),
        f"{_JOBS}.resize:drop_stashes",
        host_field="host",
    ),
    # A delete asked again owes a fresh delete job, which replaces the first.
    Route(
        "instance.delete",
        Instance.DeleteRequested,
        COMPUTE,
        (Instance.DeleteRequested, Instance.Deleted),
        f"{_JOBS}.compute:delete_instances",
    ),
)

PLACEMENTS = (
    Placement(Instance.Scheduled, "host", (Instance.Deleted,)),
    # A resize moves the guest to its destination, a revert back to its source.
    Placement(Resizing.ResizeFinished, "host", ()),
    Placement(Resizing.RevertDestCleaned, "source_host", ()),
    Placement(Resizing.ResizeReverted, "host", ()),
)

RESOURCE = WorkerResource(
    "instance",
    families=(SCHEDULER, COMPUTE),
    roles=(
        Role(SCHEDULER, "workers.roles.scheduler:build_scheduler"),
        Role(COMPUTE, "workers.roles.compute:build_compute"),
    ),
    routes=ROUTES,
    placements=PLACEMENTS,
    links=(SNAPSHOT,),
    # Before kinds were named by resource (relay_pending rows, queued batches).
    renamed={
        old: f"instance.{old}"
        for old in (
            "schedule",
            "spawn",
            "stop",
            "start",
            "power",
            "snapshot",
            "rebuild",
            "resize_schedule",
            "resize_migrate",
            "resize_finish",
            "revert_dest",
            "revert_source",
            "drop_stash",
            "delete",
        )
    },
)
