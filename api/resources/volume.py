"""Block Storage v3 (Cinder's shapes at /volume/v3/{project_id}), and
Nova's volume attachments of servers.

Block storage is a service of its own: its version documents answer
without a token, its catalog entries (``block-storage`` and ``volumev3``,
one endpoint naming the token's project), Cinder's error shape and its
microversions are declared here. Its policy rules: readers read, members
change their project's, the cloud's admin resets statuses, lists every
project, creates types, sets quotas and lists the services."""

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
from api.cinder_errors import CINDER
from api.declarations import ApiResource, CatalogEntry, Rule, Service
from api.policy import ADMIN, MEMBER, READER

# A new block storage rule goes here, beside those of its kind.
POLICY: dict[str, str | Rule] = {
    "compute:volume_attachments:index": READER,
    "compute:volume_attachments:show": READER,
    "compute:volume_attachments:create": MEMBER,
    "compute:volume_attachments:delete": MEMBER,
    "volume:volumes:create": MEMBER,
    "volume:volumes:get": READER,
    "volume:volumes:get_all": READER,
    "volume:volumes:get_all:all_tenants": ADMIN,
    "volume:volumes:update": MEMBER,
    "volume:volumes:delete": MEMBER,
    "volume:volumes:action": READER,  # each action checks its own rule too
    "volume:volumes:extend": MEMBER,
    "volume:volumes:reset_status": ADMIN,
    "volume:volumes:set_bootable": MEMBER,
    "volume:volumes:update_readonly_flag": MEMBER,
    "volume:volumes:reserve": MEMBER,
    "volume:volumes:upload_image": MEMBER,
    # Cinder's volume_extension:volume_actions:upload_public: a public image is the admin's.
    "volume:volumes:upload_public": ADMIN,
    "volume:volumes:metadata:get": READER,
    "volume:volumes:metadata:update": MEMBER,
    "volume:volumes:metadata:delete": MEMBER,
    "volume:snapshots:create": MEMBER,
    "volume:snapshots:get": READER,
    "volume:snapshots:get_all": READER,
    "volume:snapshots:update": MEMBER,
    "volume:snapshots:delete": MEMBER,
    "volume:snapshots:reset_status": ADMIN,
    "volume:snapshots:metadata:get": READER,
    "volume:snapshots:metadata:update": MEMBER,
    "volume:snapshots:metadata:delete": MEMBER,
    "volume:types:get": READER,
    "volume:types:create": ADMIN,
    "volume:quotas:show": READER,
    "volume:quotas:show:other_project": ADMIN,
    "volume:quotas:update": ADMIN,
    "volume:limits": READER,
    "volume:services:list": ADMIN,
    "volume:availability_zones:list": READER,
    "volume:extensions:list": READER,
}

_ENDPOINT = "/volume/v3/{project_id}"  # Cinder's endpoints carry the project

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
    policy=POLICY,
    public=tuple(f"GET {route.path}" for route in volume_microversion.routes),
    service=Service(
        "/volume",
        "Block Storage v3",
        catalog=(
            CatalogEntry("block-storage", "cinder", _ENDPOINT),
            CatalogEntry("volumev3", "cinderv3", _ENDPOINT),
        ),
        errors=CINDER,
        microversions=volume_microversion.VOLUME,
    ),
)
