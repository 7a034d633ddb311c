"""Networking v2.0 quotas (``/v2.0/quotas``): what ``openstack quota show``
and ``quota set --networks --floating-ips ...`` use when the catalog has a
network endpoint. Limits live on the project's Quota aggregate, with every
other service's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.neutron_common import PREFIX
from api.responses import JSONResponse
from commands.network_quotas import NETWORK_QUOTAS, reset_network_quota, set_network_quota
from domain.quota import DEFAULT_LIMITS
from domain.values import INT32_MAX, Actor
from projections.quotas import quota_rows, usage_by_resource
from projections.reader import Query


class QuotaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    network: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    subnet: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    port: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    router: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    floatingip: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    security_group: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    security_group_rule: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    check_limit: bool = False
    force: bool = False


class UpdateQuotaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quota: QuotaIn


def _project(request: Request, actor: Actor) -> str:
    project_id: str = request.path_params["project_id"]
    if project_id != actor.project_id:
        authorize(request, "network:get_quota:other_project")
    return project_id


async def _usage(request: Request, project_id: str) -> dict[str, dict[str, int]]:
    """Limits and use of the network keys; a project (or key) with no row
    yet has the defaults, as Neutron answers for any project id."""
    rows = usage_by_resource(await state(request).reads.all(quota_rows(project_id)))
    return {r: rows.get(r, {"limit": DEFAULT_LIMITS[r], "in_use": 0}) for r in NETWORK_QUOTAS}


def _shown(project_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "project_id": project_id, "tenant_id": project_id}


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_quota")
    project_id = _project(request, actor)
    usage = await _usage(request, project_id)
    return JSONResponse({"quota": {r: v["limit"] for r, v in usage.items()}})


async def show_default(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_quota")
    _project(request, actor)
    return JSONResponse({"quota": {r: DEFAULT_LIMITS[r] for r in NETWORK_QUOTAS}})


async def show_details(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_quota")
    project_id = _project(request, actor)
    usage = await _usage(request, project_id)
    details = {
        r: {"limit": v["limit"], "used": v["in_use"], "reserved": 0} for r, v in usage.items()
    }
    return JSONResponse({"quota": details})


async def list_quotas(request: Request) -> JSONResponse:
    """Projects whose network limits differ from the defaults (admins)."""
    authorize(request, "network:get_quota:other_project")
    rows = await state(request).reads.all(
        Query(
            "SELECT project_id, resource, hard_limit FROM quotas WHERE resource = ANY(%s)",
            (list(NETWORK_QUOTAS),),
        )
    )
    projects: dict[str, dict[str, int]] = {}
    for row in rows:
        projects.setdefault(row["project_id"], {})[row["resource"]] = row["hard_limit"]
    shown = []
    for project_id, limits in sorted(projects.items()):
        full = {r: limits.get(r, DEFAULT_LIMITS[r]) for r in NETWORK_QUOTAS}
        if any(full[r] != DEFAULT_LIMITS[r] for r in NETWORK_QUOTAS):
            shown.append(_shown(project_id, full))
    return JSONResponse({"quotas": shown})


@accepts(UpdateQuotaBody)
async def update(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_quota")
    project_id = request.path_params["project_id"]
    body = (await parse_body(request, UpdateQuotaBody)).quota
    limits = body.model_dump(exclude_none=True, exclude={"check_limit", "force"})
    check = body.check_limit and not body.force
    app = state(request).services.app
    receipt = await run_in_threadpool(set_network_quota, app, project_id, limits, check, actor)
    await read_your_writes(request, receipt)
    usage = await _usage(request, project_id)
    return JSONResponse({"quota": {r: v["limit"] for r, v in usage.items()}})


async def reset(request: Request) -> Response:
    actor = authorize(request, "network:delete_quota")
    project_id = request.path_params["project_id"]
    app = state(request).services.app
    receipt = await run_in_threadpool(reset_network_quota, app, project_id, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/quotas", list_quotas, methods=["GET"]),
    Route(f"{PREFIX}/quotas/{{project_id}}", show, methods=["GET"]),
    Route(f"{PREFIX}/quotas/{{project_id}}", update, methods=["PUT"]),
    Route(f"{PREFIX}/quotas/{{project_id}}", reset, methods=["DELETE"]),
    Route(f"{PREFIX}/quotas/{{project_id}}/default", show_default, methods=["GET"]),
    Route(f"{PREFIX}/quotas/{{project_id}}/details", show_details, methods=["GET"]),
]
