"""Block storage's service list (the volume workers' heartbeats), its
availability zones and its extension list, as Cinder serves them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from api import volume_microversion as mv
from api.context import state
from api.responses import JSONResponse
from api.services import iso
from api.volumes import V3, cinder_actor
from commands.volumes import VOLUME_ZONE

# A volume worker beats as "volume-<host>" (workers/heartbeats.py).
VOLUME_ROLE_PREFIX = "volume-"
VOLUME_BINARY = "cinder-volume"
BACKEND = "tgt"


async def _volume_hosts(request: Request) -> list[dict[str, Any]]:
    beats = await state(request).heartbeats.last_seen()
    found = []
    for role in sorted(beats.seen):
        if role.startswith(VOLUME_ROLE_PREFIX):
            found.append(
                {
                    "binary": VOLUME_BINARY,
                    "host": f"{role.removeprefix(VOLUME_ROLE_PREFIX)}@{BACKEND}",
                    "zone": VOLUME_ZONE,
                    "status": "enabled",
                    "state": "up" if beats.up(role) else "down",
                    "updated_at": iso(beats.get(role)),
                    "disabled_reason": None,
                }
            )
    return found


async def services(request: Request) -> JSONResponse:
    """``volume service list`` (admin); ?host= and ?binary= filter."""
    cinder_actor(request, "volume:services:list")
    found = await _volume_hosts(request)
    params = request.query_params
    found = [
        s
        for s in found
        if params.get("host") in (None, s["host"]) and params.get("binary") in (None, s["binary"])
    ]
    if mv.at_least(request, mv.SERVICE_CLUSTER):
        for shown in found:
            shown["cluster"] = None
    return JSONResponse({"services": found})


async def availability_zones(request: Request) -> JSONResponse:
    """``availability zone list --volume``: the one zone volumes are made in,
    available while a volume worker is up."""
    cinder_actor(request, "volume:availability_zones:list")
    up = any(s["state"] == "up" for s in await _volume_hosts(request))
    return JSONResponse(
        {"availabilityZoneInfo": [{"zoneName": VOLUME_ZONE, "zoneState": {"available": up}}]}
    )


_UPDATED = "2024-01-01T00:00:00+00:00"
# (alias, name, what it adds) of each Cinder extension whose part is served.
_EXTENSIONS = (
    ("os-admin-actions", "AdminActions", "Enable admin actions (reset status)."),
    ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Snapshot attributes."),
    ("os-quota-sets", "Quotas", "Quota management support."),
    ("os-services", "Services", "Services support."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
    ("os-types-manage", "TypesManage", "Types manage support."),
    ("os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
    ("os-vol-image-meta", "VolumeImageMetadata", "Show image metadata of a volume."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id."),
    ("os-volume-actions", "VolumeActions", "Enable volume actions."),
)


async def extensions(request: Request) -> JSONResponse:
    cinder_actor(request, "volume:extensions:list")
    found = [
        {
            "alias": alias,
            "name": name,
            "description": description,
            "updated": _UPDATED,
            "links": [],
            "namespace": f"https://docs.openstack.org/volume/ext/{alias}/api/v1",
        }
        for alias, name, description in _EXTENSIONS
    ]
    return JSONResponse({"extensions": found})


routes = [
    Route(f"{V3}/os-services", services, methods=["GET"]),
    Route(f"{V3}/os-availability-zone", availability_zones, methods=["GET"]),
    Route(f"{V3}/extensions", extensions, methods=["GET"]),
]
