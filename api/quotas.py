"""Compute v2.1 os-quota-sets (show, detail, update) and limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion, quota_resources
from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import INT32_MAX, Actor
from projections.quotas import quota_rows, usage_by_resource
from projections.reader import Query


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


async def _counted(request: Request, project_id: str, user_id: str) -> dict[str, int]:
    """In use, of the resources this cloud counts but does not enforce: the
    project's server groups, the caller's keypairs (Nova counts them per user)."""
    reads = state(request).reads
    groups = await reads.one(
        Query("SELECT count(*) AS n FROM server_groups WHERE project_id=%s", (project_id,))
    )
    keypairs = await reads.one(
        Query("SELECT count(*) AS n FROM keypairs WHERE user_id=%s", (user_id,))
    )
    return {
        "server_groups": int(groups["n"]) if groups else 0,
        "key_pairs": int(keypairs["n"]) if keypairs else 0,
    }


def _limits(usage: dict[str, dict[str, int]], request: Request) -> dict[str, int]:
    enforced = {resource: v["limit"] for resource, v in usage.items()}
    return quota_resources.limits_of(enforced, microversion.requested(request))


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:quotas:show")
    project_id = _project(request, actor)
    usage = await _usage(request, project_id)
    return JSONResponse({"quota_set": {"id": project_id, **_limits(usage, request)}})


async def show_detail(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:quotas:show")
    project_id = _project(request, actor)
    usage = await _usage(request, project_id)
    counted = await _counted(request, project_id, actor.user_id)
    detail = quota_resources.detail_of(usage, counted, microversion.requested(request))
    return JSONResponse({"quota_set": {"id": project_id, **detail}})


async def defaults(request: Request) -> JSONResponse:
    """The limits a new project starts with: the same for every project, so
    the answer tells nothing of the project named."""
    authorize(request, "compute:quotas:defaults")
    project_id = request.path_params["project_id"]
    limits = quota_resources.limits_of({}, microversion.requested(request))
    return JSONResponse({"quota_set": {"id": project_id, **limits}})


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
    return JSONResponse({"quota_set": _limits(usage, request)})  # no id, as Nova answers


async def delete(request: Request) -> Response:
    """Nova's quota delete: the project's limits go back to the defaults."""
    actor = authorize(request, "compute:quotas:delete")
    svc = state(request).services
    project_id = request.path_params["project_id"]
    receipt = await run_in_threadpool(
        svc.update_quota, project_id, quota_resources.compute_defaults(), actor
    )
    await read_your_writes(request, receipt)
    return Response(status_code=202)


async def limits(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:limits")
    usage = await _usage(request, actor.project_id)
    counted = await _counted(request, actor.project_id, actor.user_id)
    absolute = quota_resources.absolute_limits(usage, counted, microversion.requested(request))
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})


routes = [
    Route("/compute/v2.1/os-quota-sets/{project_id}", show, methods=["GET"]),
    Route("/compute/v2.1/os-quota-sets/{project_id}", update, methods=["PUT"]),
    Route("/compute/v2.1/os-quota-sets/{project_id}", delete, methods=["DELETE"]),
    Route("/compute/v2.1/os-quota-sets/{project_id}/detail", show_detail, methods=["GET"]),
    Route("/compute/v2.1/os-quota-sets/{project_id}/defaults", defaults, methods=["GET"]),
    Route("/compute/v2.1/limits", limits, methods=["GET"]),
]
