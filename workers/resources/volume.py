"""Volumes on the worker side: the volume host's queue and role, what each
event of a volume or snapshot owes it, and the compute hosts' steps an
attachment takes once the volume host has let its server in (a link from
the Instance to each of its volumes: its events reach the server's host)."""

from __future__ import annotations

from domain.instance import Instance
from domain.instance_volumes import InstanceVolumes
from domain.volume import Volume
from domain.volume_attach import Attaching
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_upload import Uploading
from workers.declarations import Link, QueueFamily, Role, Route, Via, WorkerResource
from workers.resources.instance import COMPUTE

VOLUME = QueueFamily("volume")  # one storage host here; its worker serves it

_JOBS = "workers.jobs.volume"
_COMPUTE_JOBS = "workers.jobs.volume_compute"
_ENDED = (Instance.Failed, Instance.DeleteRequested, Instance.Deleted)

# A server waits on each volume it is given: the volume host's AccessGranted
# owes its host the plug-in (or, for a boot, the spawn). Kept for the
# server's life, since a server can have several volumes at once.
VOLUMES = Link(
    "instance.volumes", InstanceVolumes.VolumeAttachRequested, "volume_id", (Instance.Deleted,)
)
LET_IN = Via(VOLUMES, Attaching.AccessGranted)

ROUTES = (
    Route(
        "volume.create",
        Volume.Requested,
        VOLUME,
        (Volume.Provisioned, Volume.Failed),
        f"{_JOBS}:create_volumes",
    ),
    # A delete asked again (after error_deleting) owes a fresh job.
    Route(
        "volume.delete",
        Volume.DeleteRequested,
        VOLUME,
        (Volume.DeleteRequested, Volume.Deleted, Volume.DeleteFailed),
        f"{_JOBS}:delete_volumes",
    ),
    Route(
        "volume.extend",
        Volume.ExtendRequested,
        VOLUME,
        (Volume.Extended, Volume.ExtendFailed),
        f"{_JOBS}:extend_volumes",
    ),
    Route(
        "volume.grant",
        Attaching.AttachRequested,
        VOLUME,
        (Attaching.AccessGranted, Attaching.AttachFailed, Attaching.DetachRequested, Volume.Failed),
        f"{_JOBS}:grant_attachments",
    ),
    Route(
        "volume.revoke",
        Attaching.Unplugged,
        VOLUME,
        (Attaching.Detached,),
        f"{_JOBS}:revoke_attachments",
    ),
    Route(
        "volume.upload",
        Uploading.UploadRequested,
        VOLUME,
        (Uploading.Uploaded, Uploading.UploadFailed),
        f"{_JOBS}:upload_volumes",
    ),
    Route(
        "volume.snapshot_create",
        VolumeSnapshot.Requested,
        VOLUME,
        (VolumeSnapshot.Made, VolumeSnapshot.Failed),
        f"{_JOBS}:create_snapshots",
    ),
    Route(
        "volume.snapshot_delete",
        VolumeSnapshot.DeleteRequested,
        VOLUME,
        (VolumeSnapshot.DeleteRequested, VolumeSnapshot.Deleted, VolumeSnapshot.DeleteFailed),
        f"{_JOBS}:delete_snapshots",
    ),
    # On the server's host, once its volume host let it in.
    Route(
        "volume.attach_to_server",
        LET_IN,
        COMPUTE,
        (InstanceVolumes.VolumeAttached, InstanceVolumes.VolumeAttachFailed, *_ENDED),
        f"{_COMPUTE_JOBS}:attach_instance_volumes",
    ),
    # A boot with volumes waits for them: each let in owes the spawn again
    # (the spawn step waits until all are).
    Route(
        "volume.boot_server",
        LET_IN,
        COMPUTE,
        (Instance.Spawned, *_ENDED),
        "workers.jobs.compute:spawn_instances",
    ),
    Route(
        "volume.detach_from_server",
        InstanceVolumes.VolumeDetachRequested,
        COMPUTE,
        (InstanceVolumes.VolumeDetached, InstanceVolumes.VolumeDetachFailed, *_ENDED),
        f"{_COMPUTE_JOBS}:detach_instance_volumes",
    ),
)

RESOURCE = WorkerResource(
    "volume",
    families=(VOLUME,),
    roles=(Role(VOLUME, "workers.roles.volume:build_volume"),),
    routes=ROUTES,
    links=(VOLUMES,),
)
