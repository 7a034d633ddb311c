"""Compute v2.1 flavor extra specs (``os-extra_specs``) and project access
to private flavors (``os-flavor-access``); ``flavor set --property`` and
``flavor set --project`` use them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.flavors import visible
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import Actor
from projections.flavors import extra_specs, flavor_access


class _OneSpec(BaseModel):
    """``{"key": "value"}``: exactly the key the URL names."""

    model_config = ConfigDict(extra="allow")


class ExtraSpecsBody(BaseModel):
    # Values are checked by the Flavor aggregate (strings of up to 255 characters).
    extra_specs: dict[str, Any] = Field(max_length=128)


async def _specs(request: Request, flavor_id: str) -> dict[str, str]:
    rows = await state(request).reads.all(extra_specs(flavor_id))
    return {r["key"]: r["value"] for r in rows}


async def list_specs(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:extra_specs:index")
    flavor_id = request.path_params["id"]
    await visible(request, actor, flavor_id)
    return JSONResponse({"extra_specs": await _specs(request, flavor_id)})


async def show_spec(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:extra_specs:show")
    flavor_id, key = request.path_params["id"], request.path_params["key"]
    await visible(request, actor, flavor_id)
    specs = await _specs(request, flavor_id)
    if key not in specs:
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return JSONResponse({key: specs[key]})


async def _set(request: Request, actor: Actor, flavor_id: str, specs: dict[str, Any]) -> None:
    await visible(request, actor, flavor_id)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.set_extra_specs, flavor_id, specs, actor)
    await read_your_writes(request, receipt)


@accepts(ExtraSpecsBody)
async def create_specs(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:extra_specs:create")  # before the body
    specs = _as_text((await parse_body(request, ExtraSpecsBody)).extra_specs)
    await _set(request, actor, request.path_params["id"], specs)
    return JSONResponse({"extra_specs": specs})


@accepts(_OneSpec)
async def update_spec(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:extra_specs:update")
    key = request.path_params["key"]
    body = _as_text((await parse_body(request, _OneSpec)).model_dump())
    if list(body) != [key]:
        raise BadRequest("Request body and URI mismatch")
    await _set(request, actor, request.path_params["id"], body)
    return JSONResponse(body)


def _as_text(specs: dict[str, Any]) -> dict[str, Any]:
    """Numbers become their text, as Nova stores them; anything else that
    is not a string is left for the aggregate to refuse."""
    return {
        k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in specs.items()
    }


async def delete_spec(request: Request) -> Response:
    actor = authorize(request, "compute:flavors:extra_specs:delete")
    flavor_id, key = request.path_params["id"], request.path_params["key"]
    await visible(request, actor, flavor_id)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_extra_spec, flavor_id, key, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=200)


async def _access(request: Request, flavor_id: str) -> JSONResponse:
    rows = await state(request).reads.all(flavor_access(flavor_id))
    listed = [{"flavor_id": flavor_id, "tenant_id": r["project_id"]} for r in rows]
    return JSONResponse({"flavor_access": listed})


async def list_access(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:access:index")
    flavor_id = request.path_params["id"]
    row = await visible(request, actor, flavor_id)
    if row["is_public"]:
        raise NotFound("Access list not available for public flavors.")
    return await _access(request, flavor_id)


class _Tenant(BaseModel):
    tenant: str = Field(min_length=1, max_length=255)


class FlavorActionBody(BaseModel):
    add: _Tenant | None = Field(default=None, alias="addTenantAccess")
    remove: _Tenant | None = Field(default=None, alias="removeTenantAccess")


@accepts(FlavorActionBody)
async def action(request: Request) -> JSONResponse:
    """``addTenantAccess`` / ``removeTenantAccess`` on a private flavor."""
    body = await parse_body(request, FlavorActionBody)
    if (body.add is None) == (body.remove is None):
        raise BadRequest("Give one of addTenantAccess or removeTenantAccess")
    grant = body.add is not None
    actor = authorize(request, f"compute:flavors:access:{'add' if grant else 'remove'}")
    flavor_id = request.path_params["id"]
    await visible(request, actor, flavor_id)
    tenant = (body.add or body.remove or _Tenant(tenant="")).tenant
    svc = state(request).services
    receipt = await run_in_threadpool(svc.change_flavor_access, flavor_id, tenant, grant, actor)
    await read_your_writes(request, receipt)
    return await _access(request, flavor_id)


_SPECS = "/compute/v2.1/flavors/{id}/os-extra_specs"
routes = [
    Route(_SPECS, list_specs, methods=["GET"]),
    Route(_SPECS, create_specs, methods=["POST"]),
    Route(_SPECS + "/{key}", show_spec, methods=["GET"]),
    Route(_SPECS + "/{key}", update_spec, methods=["PUT"]),
    Route(_SPECS + "/{key}", delete_spec, methods=["DELETE"]),
    Route("/compute/v2.1/flavors/{id}/os-flavor-access", list_access, methods=["GET"]),
    Route("/compute/v2.1/flavors/{id}/action", action, methods=["POST"]),
]
