"""Image v2 members: the owner shares a ``shared`` image with projects
(``image add project``), each member accepts or rejects it for itself
(``image set --accept``); events on the Image aggregate."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from psycopg.rows import DictRow
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.images import visible
from api.responses import JSONResponse
from domain.errors import Forbidden, NotFound
from domain.values import Actor
from projections.images import image_member, image_members

_TIME = "%Y-%m-%dT%H:%M:%SZ"


class MemberIn(BaseModel):
    member: str = Field(max_length=255)


class MemberStatusIn(BaseModel):
    status: Literal["accepted", "rejected", "pending"]


def _render(row: DictRow) -> dict[str, Any]:
    return {
        "created_at": row["created_at"].strftime(_TIME),
        "updated_at": row["updated_at"].strftime(_TIME),
        "image_id": str(row["image_id"]),
        "member_id": row["member_id"],
        "status": row["status"],
        "schema": "/v2/schemas/member",
    }


def _member_id(raw: str) -> str:
    try:
        return UUID(raw).hex
    except ValueError:
        raise NotFound(f"Member {raw} not found") from None


async def _image(request: Request, actor: Actor) -> DictRow:
    """The image, if the caller sees it (404) and it is shared (403, as Glance
    answers every member route of another image)."""
    row = await visible(request, actor, request.path_params["id"])
    if row["visibility"] != "shared":
        raise Forbidden("Only shared images have members.")
    return row


async def _one(request: Request, image: DictRow, member_id: str, actor: Actor) -> DictRow:
    """A member the caller may see: the owner sees all, a member itself."""
    owner = actor.is_admin or image["owner"] == actor.project_id
    row = await state(request).reads.one(image_member(image["id"], member_id))
    if row is None or not (owner or member_id == actor.project_id):
        raise NotFound(f"Member {member_id} not found for image {image['id']}")
    return row


@accepts(MemberIn)
async def add(request: Request) -> JSONResponse:
    """Share the image with a project (only ``shared`` images have members)."""
    actor = authorize(request, "image:add_member")
    body = await parse_body(request, MemberIn)
    image = await _image(request, actor)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.add_image_member, str(image["id"]), body.member, actor)
    await read_your_writes(request, receipt)
    return JSONResponse(_render(await _one(request, image, _member_id(body.member), actor)))


async def index(request: Request) -> JSONResponse:
    """The image's members (to a member, only itself)."""
    actor = authorize(request, "image:get_members")
    image = await _image(request, actor)
    rows = await state(request).reads.all(image_members(image["id"]))
    if not (actor.is_admin or image["owner"] == actor.project_id):
        rows = [r for r in rows if r["member_id"] == actor.project_id]
    return JSONResponse({"members": [_render(r) for r in rows], "schema": "/v2/schemas/members"})


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_member")
    image = await _image(request, actor)
    member_id = _member_id(request.path_params["member"])
    return JSONResponse(_render(await _one(request, image, member_id, actor)))


@accepts(MemberStatusIn)
async def update(request: Request) -> JSONResponse:
    """The member accepts, rejects or defers the image; no one else may."""
    actor = authorize(request, "image:modify_member")
    body = await parse_body(request, MemberStatusIn)
    image = await _image(request, actor)
    member_id = _member_id(request.path_params["member"])
    svc = state(request).services
    receipt = await run_in_threadpool(
        svc.set_image_member_status, str(image["id"]), member_id, body.status, actor
    )
    await read_your_writes(request, receipt)
    return JSONResponse(_render(await _one(request, image, member_id, actor)))


async def delete(request: Request) -> Response:
    actor = authorize(request, "image:delete_member")
    image = await _image(request, actor)
    member_id = _member_id(request.path_params["member"])
    await _one(request, image, member_id, actor)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.remove_image_member, str(image["id"]), member_id, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


routes = [
    Route("/image/v2/images/{id}/members", add, methods=["POST"]),
    Route("/image/v2/images/{id}/members", index, methods=["GET"]),
    Route("/image/v2/images/{id}/members/{member}", show, methods=["GET"]),
    Route("/image/v2/images/{id}/members/{member}", update, methods=["PUT"]),
    Route("/image/v2/images/{id}/members/{member}", delete, methods=["DELETE"]),
]
