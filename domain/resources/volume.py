"""Volumes, their snapshots and types on the domain side: the aggregates,
how the audit trail names them, and block storage's quota keys (Cinder's,
with its defaults; per type keys are domain/quota.py's)."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.quota import UNLIMITED
from domain.volume import Volume
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_type import VolumeType

RESOURCE = DomainResource(
    "volume",
    aggregates=(Volume, VolumeSnapshot, VolumeType),
    audit=(
        AuditType("volume", "storage/volume", aggregates=("Volume",), paths=("volumes",)),
        AuditType(
            "volume_snapshot",
            "storage/volume/snapshot",
            aggregates=("VolumeSnapshot",),
            paths=("snapshots",),
        ),
        AuditType(
            "volume_type", "storage/volume/type", aggregates=("VolumeType",), paths=("types",)
        ),
    ),
    # Cinder's defaults; backups and groups are limits nothing here consumes
    # yet, shown because clients expect them.
    quota={
        "volumes": 10,
        "gigabytes": 1000,
        "snapshots": 10,
        "per_volume_gigabytes": UNLIMITED,
        "backups": 10,
        "backup_gigabytes": 1000,
        "groups": 10,
    },
    # Worker records no request waits for: a reconcile's repair, a boot
    # attachment's host (the API shows neither).
    unwatched=(Volume.DriftRepaired,),
)
