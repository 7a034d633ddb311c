"""Compute v2.1 views for operators: os-hypervisors and os-availability-zone,
from the hosts read model and worker heartbeats (os-services: api/services.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.routing import Route

from api import microversion
from api.context import authorize, state
from api.heartbeats import Beats
from api.responses import JSONResponse
from api.services import compute_is_up, int_id, iso, read_hosts
from domain.errors import NotFound
from projections.hosts import all_hosts


def _hypervisor(
    row: DictRow, beats: Beats, detailed: bool, version: tuple[int, int] = (2, 1)
) -> dict[str, Any]:
    name = row["name"]
    shown: dict[str, Any] = {
        "id": int_id("hypervisor", name),
        "hypervisor_hostname": name,
        "state": "up" if compute_is_up(row, beats) else "down",
        "status": "enabled" if row["enabled"] else "disabled",
    }
    if detailed:
        free_ram = row["ram_mb"] - row["ram_mb_used"]
        free_disk = row["disk_gb"] - row["disk_gb_used"]
        shown |= {
            "vcpus": row["vcpus"],
            "memory_mb": row["ram_mb"],
            "local_gb": row["disk_gb"],
            "vcpus_used": row["vcpus_used"],
            "memory_mb_used": row["ram_mb_used"],
            "local_gb_used": row["disk_gb_used"],
            "free_ram_mb": free_ram,
            "free_disk_gb": free_disk,
            "disk_available_least": free_disk,
            "current_workload": 0,
            "running_vms": row["running_vms"],
            "hypervisor_type": "QEMU",  # libvirt's QEMU driver, or its test double
            "hypervisor_version": 8002000,
            "host_ip": "127.0.0.1",
            "cpu_info": {},  # an object from 2.28 (a JSON string before)
            "service": {
                "id": int_id("compute", name),
                "host": name,
                "disabled_reason": row["disabled_reason"],
            },
        }
        if version < (2, 28):
            shown["cpu_info"] = "{}"
    return shown


async def hypervisors(request: Request) -> JSONResponse:
    authorize(request, "compute:hypervisors:list")
    rows, beats = await read_hosts(request)
    return JSONResponse({"hypervisors": [_hypervisor(r, beats, False) for r in rows]})


async def hypervisors_detail(request: Request) -> JSONResponse:
    authorize(request, "compute:hypervisors:list")
    rows, beats = await read_hosts(request)
    return JSONResponse(
        {
            "hypervisors": [
                _hypervisor(r, beats, True, microversion.requested(request)) for r in rows
            ]
        }
    )


async def hypervisor(request: Request) -> JSONResponse:
    authorize(request, "compute:hypervisors:show")
    row, beats = await _host_by_id(request)
    version = microversion.requested(request)
    return JSONResponse({"hypervisor": _hypervisor(row, beats, True, version)})


async def _host_by_id(request: Request) -> tuple[DictRow, Beats]:
    """The host whose hypervisor id the path names, and the heartbeats."""
    wanted = request.path_params["id"]
    rows, beats = await read_hosts(request)
    for row in rows:
        if str(int_id("hypervisor", row["name"])) == wanted:
            return row, beats
    raise NotFound(f"Hypervisor with ID '{wanted}' could not be found.")


async def uptime(request: Request) -> JSONResponse:
    """How long the host's compute service has run (``hypervisor show``)."""
    authorize(request, "compute:hypervisors:show")
    row, beats = await _host_by_id(request)
    since = (await state(request).heartbeats.running_since()).get(f"compute-{row['name']}")
    shown = _hypervisor(row, beats, False)
    return JSONResponse({"hypervisor": {**shown, "uptime": _uptime(since)}})


def _uptime(since: datetime | None) -> str | None:
    """In the words of `uptime`: " 08:32:11 up 3 days, 18:25"."""
    if since is None:
        return None
    now = datetime.now(UTC)
    minutes = int((now - since).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    ran = f"{days} days, {rest // 60}:{rest % 60:02d}" if days else f"{rest // 60}:{rest % 60:02d}"
    return f" {now:%H:%M:%S} up {ran}"


async def statistics(request: Request) -> JSONResponse:
    authorize(request, "compute:hypervisors:list")
    rows, beats = await read_hosts(request)
    shown = [_hypervisor(r, beats, True, microversion.requested(request)) for r in rows]
    keys = (
        "vcpus",
        "memory_mb",
        "local_gb",
        "vcpus_used",
        "memory_mb_used",
        "local_gb_used",
        "free_ram_mb",
        "free_disk_gb",
        "current_workload",
        "running_vms",
        "disk_available_least",
    )
    stats = {k: sum(h[k] for h in shown) for k in keys}
    return JSONResponse({"hypervisor_statistics": {"count": len(shown), **stats}})


async def availability_zones(request: Request) -> JSONResponse:
    """Every zone that has an enabled host (``availability zone list``)."""
    authorize(request, "compute:availability_zones:list")
    rows = await state(request).reads.all(all_hosts())
    zones = sorted({r["zone"] for r in rows if r["enabled"]})
    listed = [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in zones]
    return JSONResponse({"availabilityZoneInfo": listed})


async def availability_zones_detail(request: Request) -> JSONResponse:
    """Zones with their hosts and services; the scheduler is in "internal"."""
    authorize(request, "compute:availability_zones:detail")
    rows, beats = await read_hosts(request)

    def service(beat: datetime | None, up: bool, enabled: bool) -> dict[str, Any]:
        return {"available": up, "active": enabled, "updated_at": iso(beat)}

    beat = beats.get("scheduler")
    zones: dict[str, dict[str, Any]] = {
        "internal": {"scheduler": {"nova-scheduler": service(beat, beats.up("scheduler"), True)}}
    }
    for row in rows:
        hosts = zones.setdefault(row["zone"], {})
        beat = beats.get(f"compute-{row['name']}")
        shown = service(beat, compute_is_up(row, beats), row["enabled"])
        hosts[row["name"]] = {"nova-compute": shown}
    listed = [
        {"zoneName": name, "zoneState": {"available": True}, "hosts": hosts}
        for name, hosts in sorted(zones.items())
    ]
    return JSONResponse({"availabilityZoneInfo": listed})


routes = [
    Route("/compute/v2.1/os-hypervisors", hypervisors, methods=["GET"]),
    Route("/compute/v2.1/os-hypervisors/detail", hypervisors_detail, methods=["GET"]),
    Route("/compute/v2.1/os-hypervisors/statistics", statistics, methods=["GET"]),
    Route("/compute/v2.1/os-hypervisors/{id}", hypervisor, methods=["GET"]),
    Route("/compute/v2.1/os-hypervisors/{id}/uptime", uptime, methods=["GET"]),
    Route("/compute/v2.1/os-availability-zone", availability_zones, methods=["GET"]),
    Route("/compute/v2.1/os-availability-zone/detail", availability_zones_detail, methods=["GET"]),
]
