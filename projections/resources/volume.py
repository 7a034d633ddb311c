"""Volumes (their attachments), snapshots and types on the read side."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.volume_snapshots import VolumeSnapshotsView
from projections.volumes import VolumesView

RESOURCE = ProjectionResource("volume", (VolumesView, VolumeSnapshotsView))
