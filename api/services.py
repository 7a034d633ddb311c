"""Compute v2.1 os-services: the scheduler and one compute service per host,
up or down from worker heartbeats (Redis) unless an operator forced a host
down; enable, disable (with a reason) and force-down append events."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api import microversion
from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.heartbeats import Beats
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import Actor
from projections.hosts import all_hosts

COMPUTE = "nova-compute"
FORCED_DOWN_FROM = (2, 11)  # force-down, and forced_down in the list


def int_id(kind: str, name: str) -> int:
    """Nova shows integer ids before 2.53; a stable one from the name."""
    return zlib.crc32(f"{kind}/{name}".encode()) & 0x7FFFFFFF


def iso(beat: datetime | None) -> str | None:
    return beat.strftime("%Y-%m-%dT%H:%M:%S.%f") if beat else None


async def read_hosts(request: Request) -> tuple[list[DictRow], Beats]:
    """Every host's row, and each worker role's latest heartbeat."""
    rows = await state(request).reads.all(all_hosts())
    return rows, await state(request).heartbeats.last_seen()


def compute_is_up(row: DictRow, beats: Beats) -> bool:
    """A host's compute service is up while its worker beats, unless forced
    down (Nova's servicegroup answers "down" for a forced-down service)."""
    return not row["forced_down"] and beats.up(f"compute-{row['name']}")


def _service(binary: str, host: str, zone: str, beats: Beats, role: str) -> dict[str, Any]:
    beat = beats.get(role)
    return {
        "id": int_id(binary, host),
        "binary": binary,
        "host": host,
        "zone": zone,
        "status": "enabled",
        "state": "up" if beats.up(role) else "down",
        "updated_at": iso(beat),
        "disabled_reason": None,
        "forced_down": False,
    }


def _compute_service(row: DictRow, beats: Beats) -> dict[str, Any]:
    role = f"compute-{row['name']}"
    return _service(COMPUTE, row["name"], row["zone"], beats, role) | {
        "status": "enabled" if row["enabled"] else "disabled",
        "state": "up" if compute_is_up(row, beats) else "down",
        "disabled_reason": row["disabled_reason"],
        "forced_down": row["forced_down"],
    }


async def services(request: Request) -> JSONResponse:
    """The scheduler and one compute service per host (``compute service list``)."""
    authorize(request, "compute:services:list")
    rows, beats = await read_hosts(request)
    found = [_service("nova-scheduler", "scheduler", "internal", beats, "scheduler")]
    found += [_compute_service(r, beats) for r in rows]
    params = request.query_params
    found = [
        s
        for s in found
        if params.get("host") in (None, s["host"]) and params.get("binary") in (None, s["binary"])
    ]
    if microversion.requested(request) < FORCED_DOWN_FROM:
        for shown in found:
            del shown["forced_down"]
    return JSONResponse({"services": found})


class ServiceChange(BaseModel):
    host: str = Field(min_length=1, max_length=255)
    binary: str = Field(min_length=1, max_length=255)


class ServiceDisableWithReason(ServiceChange):
    disabled_reason: str = Field(min_length=1, max_length=255)


class ServiceForceDown(ServiceChange):
    forced_down: bool


def _compute_only(change: ServiceChange) -> None:
    """Nova updates only nova-compute services (400 for the scheduler's)."""
    if change.binary != COMPUTE:
        raise BadRequest(
            f"Updating a {change.binary} service is not supported. "
            f"Only {COMPUTE} services can be updated."
        )


async def _set_enabled(
    request: Request, actor: Actor, change: ServiceChange, enabled: bool, reason: str | None
) -> JSONResponse:
    """The scheduler places nothing more on a disabled host."""
    _compute_only(change)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.set_host_enabled, change.host, enabled, actor, reason)
    await read_your_writes(request, receipt)
    shown = {
        "host": change.host,
        "binary": change.binary,
        "status": "enabled" if enabled else "disabled",
    }
    if reason:
        shown["disabled_reason"] = reason
    return JSONResponse({"service": shown})


@accepts(ServiceChange)
async def disable_service(request: Request) -> JSONResponse:
    """``compute service set --disable HOST nova-compute``."""
    actor = authorize(request, "compute:services:update")
    change = await parse_body(request, ServiceChange)
    return await _set_enabled(request, actor, change, False, None)


@accepts(ServiceDisableWithReason)
async def disable_service_with_reason(request: Request) -> JSONResponse:
    """``compute service set --disable --disable-reason R HOST nova-compute``."""
    actor = authorize(request, "compute:services:update")
    change = await parse_body(request, ServiceDisableWithReason)
    return await _set_enabled(request, actor, change, False, change.disabled_reason)


@accepts(ServiceChange)
async def enable_service(request: Request) -> JSONResponse:
    """``compute service set --enable HOST nova-compute``: clears the reason."""
    actor = authorize(request, "compute:services:update")
    change = await parse_body(request, ServiceChange)
    return await _set_enabled(request, actor, change, True, None)


@accepts(ServiceForceDown)
async def force_down_service(request: Request) -> JSONResponse:
    """``compute service set --down|--up HOST nova-compute`` (from 2.11)."""
    actor = authorize(request, "compute:services:update")
    if microversion.requested(request) < FORCED_DOWN_FROM:
        raise NotFound("Unknown action")  # as Nova answers before 2.11
    change = await parse_body(request, ServiceForceDown)
    _compute_only(change)
    svc = state(request).services
    receipt = await run_in_threadpool(
        svc.set_host_forced_down, change.host, change.forced_down, actor
    )
    await read_your_writes(request, receipt)
    shown = {"host": change.host, "binary": change.binary, "forced_down": change.forced_down}
    return JSONResponse({"service": shown})


routes = [
    Route("/compute/v2.1/os-services", services, methods=["GET"]),
    Route("/compute/v2.1/os-services/disable", disable_service, methods=["PUT"]),
    Route(
        "/compute/v2.1/os-services/disable-log-reason",
        disable_service_with_reason,
        methods=["PUT"],
    ),
    Route("/compute/v2.1/os-services/enable", enable_service, methods=["PUT"]),
    Route("/compute/v2.1/os-services/force-down", force_down_service, methods=["PUT"]),
]
