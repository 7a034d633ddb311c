"""Compute v2.1 os-simple-tenant-usage (``usage list``, ``usage show``),
computed from the ledger's usage intervals (domain/usage.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.routing import Route

from api import microversion
from api.context import authenticate, authorize, base_url, state
from api.errors import BadRequest
from api.responses import JSONResponse
from domain.usage import InstanceUsage, ProjectUsage, usage_by_project
from projections.usage import as_interval, instance_project, intervals

MAX_PAGE = 1000  # Nova's max_limit: the most servers one answer covers
PAGING = (2, 40)  # limit and marker; before it, silently the first MAX_PAGE

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


@dataclass(frozen=True)
class _Page:
    """Which servers' usage one answer covers: Nova pages by (project, server id)."""

    limit: int
    after: tuple[str, str] | None  # the marker's (project id, server id)
    paged: bool  # 2.40 or later: say where the next page starts


async def _page(request: Request, project_id: str | None) -> _Page:
    """The page asked for. A marker must be a server of ``project_id`` (of
    any project if None): another project's server is answered as an
    unknown id, so the marker tells no one whose servers exist."""
    if microversion.requested(request) < PAGING:
        return _Page(MAX_PAGE, None, False)
    params = request.query_params
    raw = params.get("limit", str(MAX_PAGE))
    if not raw.isdecimal() or not raw.isascii():
        raise BadRequest("limit must be a non-negative integer")
    marker, after = params.get("marker"), None
    if marker is not None:
        row = await state(request).reads.one(instance_project(_marker_id(marker)))
        if row is None or project_id not in (None, row["project_id"]):
            raise BadRequest(f"marker [{marker[:40]}] not found")
        after = (row["project_id"], row["instance_id"])
    return _Page(min(int(raw[:7]), MAX_PAGE), after, True)


def _marker_id(marker: str) -> UUID:
    try:
        return UUID(marker)
    except ValueError:
        raise BadRequest(f"marker [{marker[:40]}] not found") from None


async def _usage(
    request: Request, start: datetime, stop: datetime, project_id: str | None, page: _Page
) -> tuple[dict[str, ProjectUsage], list[InstanceUsage]]:
    """The usage of one page of servers, by project, and those servers."""
    rows = await state(request).reads.all(intervals(start, stop, project_id))
    now = datetime.now(UTC)
    every = usage_by_project([as_interval(r) for r in rows], start, stop, now)
    servers = sorted(
        (i for p in every.values() for i in p.instances.values()),
        key=lambda i: (i.project_id, i.instance_id),
    )
    if page.after is not None:
        servers = [i for i in servers if (i.project_id, i.instance_id) > page.after]
    servers = servers[: page.limit]
    projects: dict[str, ProjectUsage] = {}
    for usage in servers:
        projects.setdefault(usage.project_id, ProjectUsage(usage.project_id))
        projects[usage.project_id].instances[usage.instance_id] = usage
    return projects, servers


def _next(request: Request, page: _Page, servers: list[InstanceUsage]) -> list[dict[str, str]]:
    """Nova's "next" link, when the page is full."""
    if not page.paged or not servers or len(servers) < page.limit:
        return []
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", servers[-1].instance_id))
    path = "/compute/v2.1/os-simple-tenant-usage"
    if "project_id" in request.path_params:
        path += f"/{quote(request.path_params['project_id'], safe='')}"
    href = f"{base_url(request)}{path}?{urlencode(params)}"
    return [{"rel": "next", "href": href}]


async def index(request: Request) -> JSONResponse:
    """Every project's usage (admins)."""
    authorize(request, "compute:usage:list")
    start, stop = _period(request)
    detailed = request.query_params.get("detailed") in ("1", "true", "True")
    page = await _page(request, None)  # whoever may list sees every project's servers
    projects, servers = await _usage(request, start, stop, None, page)
    listed = [_project(p, start, stop, detailed) for _, p in sorted(projects.items())]
    body: dict[str, Any] = {"tenant_usages": listed}
    if links := _next(request, page, servers):
        body["tenant_usages_links"] = links
    return JSONResponse(body)


async def show(request: Request) -> JSONResponse:
    """One project's usage: its members', or any for admins."""
    actor = authenticate(request)
    project_id = request.path_params["project_id"]
    state(request).policy.enforce(actor, "compute:usage:show", {"project_id": project_id})
    start, stop = _period(request)
    page = await _page(request, project_id)
    projects, servers = await _usage(request, start, stop, project_id, page)
    body: dict[str, Any] = {"tenant_usage": {}}  # Nova: nothing used, nothing shown
    if project_id in projects:
        body["tenant_usage"] = _project(projects[project_id], start, stop, True)
    if links := _next(request, page, servers):
        body["tenant_usage_links"] = links
    return JSONResponse(body)


routes = [
    Route("/compute/v2.1/os-simple-tenant-usage", index, methods=["GET"]),
    Route("/compute/v2.1/os-simple-tenant-usage/{project_id}", show, methods=["GET"]),
]
