"""Compute v2.1 os-quota-sets (show, detail, update) and limits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api import microversion
from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import INT32_MAX, MAX_METADATA_ITEMS, Actor
from projections.quotas import quota_rows, usage_by_resource


class QuotaLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    cores: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    ram: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    force: bool | None = None


class UpdateQuotaBody(BaseModel):
    quota_set: QuotaLimits


def _project(request: Request, actor: Actor) -> str:
    project_id: str = request.path_params["project_id"]
    if project_id != actor.project_id:
        authorize(request, "compute:quotas:show:other_project")
    return project_id


async def _usage(request: Request, project_id: str) -> dict[str, dict[str, int]]:
    usage = usage_by_resource(await state(request).reads.all(quota_rows(project_id)))
    if not usage:
        raise NotFound(f"Project {project_id} could not be found.")
    return usage


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:quotas:show")
    project_id = _project(request, actor)
    usage = await _usage(request, project_id)
    body: dict[str, Any] = {"id": project_id}
    body.update({resource: v["limit"] for resource, v in usage.items()})
    return JSONResponse({"quota_set": body})


async def show_detail(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:quotas:show")
    project_id = _project(request, actor)
    usage = await _usage(request, project_id)
    body: dict[str, Any] = {"id": project_id}
    for resource, v in usage.items():
        body[resource] = {"limit": v["limit"], "in_use": v["in_use"], "reserved": 0}
    return JSONResponse({"quota_set": body})


@accepts(UpdateQuotaBody)
async def update(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:quotas:update")
    project_id = request.path_params["project_id"]
    limits = (await parse_body(request, UpdateQuotaBody)).quota_set.model_dump(
        exclude_none=True, exclude={"force"}
    )
    svc = state(request).services
    receipt = await run_in_threadpool(svc.update_quota, project_id, limits, actor)
    await read_your_writes(request, receipt)
    usage = await _usage(request, project_id)
    return JSONResponse({"quota_set": {r: v["limit"] for r, v in usage.items()}})


async def limits(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:limits")
    usage = await _usage(request, actor.project_id)

    def get(resource: str, key: str) -> int:
        return usage.get(resource, {}).get(key, 0)

    absolute = {
        "maxTotalInstances": get("instances", "limit"),
        "maxTotalCores": get("cores", "limit"),
        "maxTotalRAMSize": get("ram", "limit"),
        "totalInstancesUsed": get("instances", "in_use"),
        "totalCoresUsed": get("cores", "in_use"),
        "totalRAMUsed": get("ram", "in_use"),
        "maxServerMeta": MAX_METADATA_ITEMS,
    }
    if microversion.requested(request) < (2, 39):  # 2.39 dropped the image proxy's limit
        absolute["maxImageMeta"] = MAX_METADATA_ITEMS
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})


routes = [
    Route("/compute/v2.1/os-quota-sets/{project_id}", show, methods=["GET"]),
    Route("/compute/v2.1/os-quota-sets/{project_id}", update, methods=["PUT"]),
    Route("/compute/v2.1/os-quota-sets/{project_id}/detail", show_detail, methods=["GET"]),
    Route("/compute/v2.1/limits", limits, methods=["GET"]),
]
