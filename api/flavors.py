"""Compute v2.1 flavors: list, detail, show, create and delete (admin)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import (
    NO_CONTROL_CHARS,
    accepts,
    authorize,
    base_url,
    parse_body,
    read_your_writes,
    state,
)
from api.errors import BadRequest
from api.responses import JSONResponse
from commands.catalog import CreateFlavor
from domain.errors import NotFound
from domain.values import INT32_MAX, Actor
from projections.flavors import FlavorPage, flavor_by_id, flavor_page, visible_flavor

MAX_PAGE = 1000  # Nova's osapi_max_limit
_FLAVOR_ID = r"^[A-Za-z0-9._-]([A-Za-z0-9. _-]*[A-Za-z0-9._-])?$"  # no space at either end


class FlavorSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    # Nova: a string, a number, or none (then a new UUID).
    id: Annotated[str, Field(min_length=1, max_length=255, pattern=_FLAVOR_ID)] | int | None = None
    ram: int = Field(ge=1, le=INT32_MAX)
    vcpus: int = Field(ge=1, le=INT32_MAX)
    disk: int = Field(ge=0, le=INT32_MAX)
    ephemeral: int = Field(default=0, ge=0, le=INT32_MAX, alias="OS-FLV-EXT-DATA:ephemeral")
    swap: int = Field(default=0, ge=0, le=INT32_MAX)
    is_public: bool = Field(default=True, alias="os-flavor-access:is_public")


class CreateFlavorBody(BaseModel):
    flavor: FlavorSpec


def _links(request: Request, flavor_id: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/flavors/{flavor_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/flavors/{flavor_id}"},
    ]


def render(request: Request, row: DictRow) -> dict[str, Any]:
    return {
        "id": row["flavor_id"],
        "name": row["name"],
        "ram": row["ram_mb"],
        "disk": row["disk_gb"],
        "vcpus": row["vcpus"],
        "OS-FLV-EXT-DATA:ephemeral": row["ephemeral_gb"],
        "swap": row["swap_mb"] or "",  # before 2.75 Nova shows no swap as ""
        "rxtx_factor": 1.0,
        "os-flavor-access:is_public": row["is_public"],
        "OS-FLV-DISABLED:disabled": False,
        "links": _links(request, row["flavor_id"]),
    }


async def _rows(request: Request, actor: Actor) -> list[DictRow]:
    """Public flavors, and the private ones the project was given (all for
    admins); with Nova's filters (minRam, minDisk) and paging (limit, marker)."""
    params = request.query_params
    page = FlavorPage(
        min_ram_mb=_integer(params, "minRam", "Invalid minRam filter [{}]"),
        min_disk_gb=_integer(params, "minDisk", "Invalid minDisk filter [{}]"),
        after=await _after(request, actor, params["marker"]) if "marker" in params else None,
        limit=min(_integer(params, "limit", "limit param must be an integer"), MAX_PAGE)
        if "limit" in params
        else None,
    )
    if page.limit is not None and page.limit < 0:
        raise BadRequest("limit param must be positive")
    return await state(request).reads.all(flavor_page(actor.is_admin, actor.project_id, page))


def _integer(params: Mapping[str, str], name: str, message: str) -> int:
    try:
        return int(params.get(name, 0))
    except ValueError:
        raise BadRequest(message.format(params[name][:40])) from None


async def _after(request: Request, actor: Actor, marker: str) -> tuple[int, int, int, str]:
    """Where a page starts: after the marker, a flavor the caller can see (400 otherwise)."""
    try:
        row = await visible(request, actor, marker)
    except NotFound:
        raise BadRequest(f"marker [{marker[:40]}] not found") from None
    return (row["ram_mb"], row["vcpus"], row["disk_gb"], row["flavor_id"])


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:index")
    rows = await _rows(request, actor)
    flavors = [
        {"id": r["flavor_id"], "name": r["name"], "links": _links(request, r["flavor_id"])}
        for r in rows
    ]
    return JSONResponse({"flavors": flavors})


async def detail(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:index")
    rows = await _rows(request, actor)
    return JSONResponse({"flavors": [render(request, r) for r in rows]})


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:index")
    row = await visible(request, actor, request.path_params["id"])
    return JSONResponse({"flavor": render(request, row)})


async def visible(request: Request, actor: Actor, flavor_id: str) -> DictRow:
    """The flavor if the caller's project may use it, else 404."""
    query = visible_flavor(flavor_id, actor.project_id, actor.is_admin)
    row = await state(request).reads.one(query)
    if row is None:
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return row


@accepts(CreateFlavorBody)
async def create(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:flavors:create")
    spec = (await parse_body(request, CreateFlavorBody)).flavor
    cmd = CreateFlavor(
        flavor_id=str(uuid.uuid4()) if spec.id is None else str(spec.id),
        name=spec.name,
        vcpus=spec.vcpus,
        ram_mb=spec.ram,
        disk_gb=spec.disk,
        ephemeral_gb=spec.ephemeral,
        swap_mb=spec.swap,
        is_public=spec.is_public,
    )
    receipt = await run_in_threadpool(state(request).services.create_flavor, cmd, actor)
    await read_your_writes(request, receipt)
    row = await state(request).reads.one(flavor_by_id(cmd.flavor_id))
    assert row is not None
    return JSONResponse({"flavor": render(request, row)})


async def delete(request: Request) -> Response:
    actor = authorize(request, "compute:flavors:delete")
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_flavor, request.path_params["id"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=202)


routes = [
    Route("/compute/v2.1/flavors", index, methods=["GET"]),
    Route("/compute/v2.1/flavors", create, methods=["POST"]),
    Route("/compute/v2.1/flavors/detail", detail, methods=["GET"]),
    Route("/compute/v2.1/flavors/{id}", show, methods=["GET"]),
    Route("/compute/v2.1/flavors/{id}", delete, methods=["DELETE"]),
]
