"""Compute v2.1 os-server-groups: groups whose policy the scheduler honours
(affinity, anti-affinity and their soft forms); members join at boot with
``os:scheduler_hints`` ``group``."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from psycopg.rows import DictRow
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import (
    NO_CONTROL_CHARS,
    accepts,
    authorize,
    parse_body,
    read_your_writes,
    state,
)
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import Actor
from projections.server_groups import group, groups

Policy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]


def _shape(row: DictRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "policies": [row["policy"]],
        "members": list(row["members"]),
        "metadata": {},
        "project_id": row["project_id"],
        "user_id": row["user_id"],
    }


async def _visible(request: Request, actor: Actor) -> DictRow:
    group_id = request.path_params["id"]
    try:
        uid = UUID(group_id)
    except ValueError:
        raise NotFound(f"Instance group {group_id} could not be found.") from None
    row = await state(request).reads.one(group(uid))
    if row is None or not (actor.is_admin or row["project_id"] == actor.project_id):
        raise NotFound(f"Instance group {group_id} could not be found.")
    return row


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:server_groups:index")
    every = actor.is_admin and request.query_params.get("all_projects") in ("1", "true", "True")
    rows = await state(request).reads.all(groups(None if every else actor.project_id))
    return JSONResponse({"server_groups": [_shape(r) for r in rows]})


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:server_groups:show")
    return JSONResponse({"server_group": _shape(await _visible(request, actor))})


class _NewGroup(BaseModel):
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    policies: list[Policy] = Field(min_length=1, max_length=1)


class CreateGroupBody(BaseModel):
    server_group: _NewGroup


@accepts(CreateGroupBody)
async def create(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:server_groups:create")
    spec = (await parse_body(request, CreateGroupBody)).server_group
    svc = state(request).services
    receipt = await run_in_threadpool(svc.create_group, spec.name, spec.policies[0], actor)
    await read_your_writes(request, receipt)
    row = await state(request).reads.one(group(receipt.id))
    assert row is not None  # read-your-writes waited for it
    return JSONResponse({"server_group": _shape(row)})


async def delete(request: Request) -> Response:
    actor = authorize(request, "compute:server_groups:delete")
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_group, request.path_params["id"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


routes = [
    Route("/compute/v2.1/os-server-groups", index, methods=["GET"]),
    Route("/compute/v2.1/os-server-groups", create, methods=["POST"]),
    Route("/compute/v2.1/os-server-groups/{id}", show, methods=["GET"]),
    Route("/compute/v2.1/os-server-groups/{id}", delete, methods=["DELETE"]),
]
