"""Block Storage v3 (Cinder's shapes at /volume/v3/{project_id}), and
Nova's volume attachments of servers."""

from __future__ import annotations

from api import (
    cinder_quotas,
    cinder_services,
    volume_actions,
    volume_attachments,
    volume_metadata,
    volume_microversion,
    volume_snapshots,
    volume_types,
    volumes,
)
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "volume",
    [
        *volume_microversion.routes,
        *volumes.routes,
        *volume_actions.routes,
        *volume_metadata.routes,
        *volume_snapshots.routes,
        *volume_types.routes,
        *cinder_quotas.routes,
        *cinder_services.routes,
        *volume_attachments.routes,
    ],
)
