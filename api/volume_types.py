"""Block Storage v3 volume types: list and show (the default type, Cinder's
``__DEFAULT__``, always there), their extra specs, and an admin's create."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api import volume_views as views
from api.context import NO_CONTROL_CHARS, accepts, parse_body, read_your_writes, state
from api.responses import JSONResponse
from api.volume_state import volume_state
from api.volumes import V3, cinder_actor
from commands.volume_types import CreateVolumeType
from domain.errors import NotFound
from domain.values import Actor
from domain.volume_type import DEFAULT_TYPE
from projections.volume_snapshots import volume_type_by, volume_types


async def all_types(request: Request, actor: Actor) -> list[dict[str, Any]]:
    """Every type the caller may use: the default, then the others by name."""
    rows = await state(request).reads.all(volume_types())
    return [views.DEFAULT_TYPE_ROW, *(r for r in rows if r["is_public"] or actor.is_admin)]


async def find_type(request: Request, actor: Actor, asked: str) -> dict[str, Any]:
    if asked in (DEFAULT_TYPE.id, DEFAULT_TYPE.name, "default"):
        return views.DEFAULT_TYPE_ROW
    try:
        row = await state(request).reads.one(volume_type_by(UUID(asked)))
    except ValueError:
        row = await state(request).reads.one(volume_type_by(asked))
    if row is None or not (row["is_public"] or actor.is_admin):
        raise NotFound(f"Volume type {asked[:64]} could not be found.")
    return dict(row)


async def index(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:types:get")
    found = [views.volume_type(t) for t in await all_types(request, actor)]
    return JSONResponse({"volume_types": found})


async def show(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:types:get")
    found = await find_type(request, actor, request.path_params["id"])
    return JSONResponse({"volume_type": views.volume_type(found)})


async def extra_specs(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:types:get")
    found = await find_type(request, actor, request.path_params["id"])
    return JSONResponse({"extra_specs": dict(found["extra_specs"])})


async def extra_spec(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:types:get")
    found = await find_type(request, actor, request.path_params["id"])
    key = request.path_params["key"]
    if key not in found["extra_specs"]:
        raise NotFound(f"Volume Type {found['id']} has no extra specs with key {key[:64]}.")
    return JSONResponse({key: found["extra_specs"][key]})


class TypeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    is_public: bool = Field(default=True, alias="os-volume-type-access:is_public")
    extra_specs: dict[str, str] = Field(default_factory=dict)


class CreateTypeBody(BaseModel):
    volume_type: TypeSpec


@accepts(CreateTypeBody)
async def create(request: Request) -> JSONResponse:
    """``volume type create [--property multiattach='<is> True'] NAME`` (admin)."""
    actor = cinder_actor(request, "volume:types:create")
    spec = (await parse_body(request, CreateTypeBody)).volume_type
    cmd = CreateVolumeType(spec.name, spec.description or "", spec.is_public, spec.extra_specs)
    receipt = await run_in_threadpool(volume_state(request).commands.create_volume_type, cmd, actor)
    await read_your_writes(request, receipt)
    found = await find_type(request, actor, str(receipt.id))
    return JSONResponse({"volume_type": views.volume_type(found)})


routes = [
    Route(f"{V3}/types", index, methods=["GET"]),
    Route(f"{V3}/types", create, methods=["POST"]),
    Route(f"{V3}/types/{{id}}", show, methods=["GET"]),
    Route(f"{V3}/types/{{id}}/extra_specs", extra_specs, methods=["GET"]),
    Route(f"{V3}/types/{{id}}/extra_specs/{{key}}", extra_spec, methods=["GET"]),
]
