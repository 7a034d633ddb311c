"""Compute v2.1 os-simple-tenant-usage (``usage list``, ``usage show``),
computed from the ledger's usage intervals (domain/usage.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from api.context import authenticate, authorize, state
from api.errors import BadRequest
from api.responses import JSONResponse
from domain.usage import InstanceUsage, ProjectUsage, usage_by_project
from projections.usage import as_interval, intervals

_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


def _when(request: Request, name: str) -> datetime:
    """A period bound as Nova parses it (UTC); now if not given."""
    value = request.query_params.get(name)
    if value is None:
        return datetime.now(UTC)
    for fmt in _FORMATS:
        try:
            return datetime.strptime(value.removesuffix("Z"), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise BadRequest(f"Invalid {name} time: {value[:40]!r}; use YYYY-MM-DDTHH:MM:SS")


def _period(request: Request) -> tuple[datetime, datetime]:
    start, stop = _when(request, "start"), _when(request, "end")
    if start > stop:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, stop


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") if moment else None


def _server(usage: InstanceUsage, stop: datetime) -> dict[str, Any]:
    ended = usage.ended_at
    return {
        "instance_id": usage.instance_id,
        "name": usage.name,
        "tenant_id": usage.project_id,
        "flavor": usage.flavor_name,
        "hours": usage.hours,
        "vcpus": usage.vcpus,
        "memory_mb": usage.ram_mb,
        "local_gb": usage.disk_gb,
        "state": "terminated" if ended else usage.state,
        "started_at": _iso(usage.started_at),
        "ended_at": _iso(ended),
        "uptime": int(((ended or min(stop, datetime.now(UTC))) - usage.started_at).total_seconds()),
    }


def _project(
    usage: ProjectUsage, start: datetime, stop: datetime, detailed: bool
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "tenant_id": usage.project_id,
        "total_hours": usage.hours,
        "total_vcpus_usage": usage.vcpu_hours,
        "total_memory_mb_usage": usage.ram_mb_hours,
        "total_local_gb_usage": usage.disk_gb_hours,
        "start": _iso(start),
        "stop": _iso(stop),
    }
    if detailed:
        shown["server_usages"] = [_server(i, stop) for i in usage.instances.values()]
    return shown


async def _usage(
    request: Request, start: datetime, stop: datetime, project_id: str | None
) -> dict[str, ProjectUsage]:
    rows = await state(request).reads.all(intervals(start, stop, project_id))
    now = datetime.now(UTC)
    return usage_by_project([as_interval(r) for r in rows], start, stop, now)


async def index(request: Request) -> JSONResponse:
    """Every project's usage (admins)."""
    authorize(request, "compute:usage:list")
    start, stop = _period(request)
    detailed = request.query_params.get("detailed") in ("1", "true", "True")
    projects = await _usage(request, start, stop, None)
    listed = [_project(p, start, stop, detailed) for _, p in sorted(projects.items())]
    return JSONResponse({"tenant_usages": listed})


async def show(request: Request) -> JSONResponse:
    """One project's usage: its members', or any for admins."""
    actor = authenticate(request)
    project_id = request.path_params["project_id"]
    state(request).policy.enforce(actor, "compute:usage:show", {"project_id": project_id})
    start, stop = _period(request)
    projects = await _usage(request, start, stop, project_id)
    if project_id not in projects:
        return JSONResponse({"tenant_usage": {}})  # Nova: nothing used, nothing shown
    return JSONResponse({"tenant_usage": _project(projects[project_id], start, stop, True)})


routes = [
    Route("/compute/v2.1/os-simple-tenant-usage", index, methods=["GET"]),
    Route("/compute/v2.1/os-simple-tenant-usage/{project_id}", show, methods=["GET"]),
]
