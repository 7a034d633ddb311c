"""Image v2: create, list, show, delete (the data routes are in api/image_data.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import (
    accepts,
    authorize,
    base_url,
    parse_body,
    read_your_writes,
    state,
)
from api.errors import BadRequest
from api.responses import JSONResponse
from commands.images import CreateImage
from domain.errors import NotFound
from domain.values import INT32_MAX, Actor
from projections.images import image_by_id, image_list

_CORE = {"name", "disk_format", "container_format", "visibility", "min_disk", "min_ram"}
_IGNORED = {"protected", "tags", "os_hidden"}


class ImageSpec(BaseModel):
    # Glance takes any other key as a free-form string property.
    model_config = ConfigDict(extra="allow")
    name: str = Field(default="", max_length=255)
    disk_format: str = "qcow2"
    container_format: str = "bare"
    visibility: str = "shared"
    min_disk: int = Field(default=0, ge=0, le=INT32_MAX)
    min_ram: int = Field(default=0, ge=0, le=INT32_MAX)
    protected: bool = False
    tags: list[str] = []


def render(request: Request, row: DictRow) -> dict[str, Any]:
    iid = str(row["id"])
    body: dict[str, Any] = dict(row["properties"])
    body.update(
        {
            "id": iid,
            "name": row["name"],
            "status": row["status"],
            "visibility": row["visibility"],
            "protected": False,
            "os_hidden": False,
            "checksum": row["checksum"],
            "os_hash_algo": row["hash_algo"],
            "os_hash_value": row["hash_value"],
            "size": row["size"],
            "virtual_size": None,
            "disk_format": row["disk_format"],
            "container_format": row["container_format"],
            "min_disk": row["min_disk"],
            "min_ram": row["min_ram"],
            "owner": row["owner"],
            "tags": [],
            "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": row["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "self": f"/v2/images/{iid}",
            "file": f"/v2/images/{iid}/file",
            "schema": "/v2/schemas/image",
        }
    )
    return body


async def _visible(
    request: Request, actor: Actor, image_id: str, any_project: bool | None = None
) -> DictRow:
    try:
        uid = UUID(image_id)
    except ValueError:
        raise NotFound(f"No image found with ID {image_id}") from None
    everyone = actor.is_admin if any_project is None else any_project
    row = await state(request).reads.one(image_by_id(uid, actor.project_id, everyone))
    if row is None:
        raise NotFound(f"No image found with ID {image_id}")
    return row


async def versions(request: Request) -> JSONResponse:
    doc = {
        "id": "v2.9",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": f"{base_url(request)}/image/v2/"}],
    }
    return JSONResponse(
        {"versions": [doc]}, 300 if request.url.path.rstrip("/") == "/image" else 200
    )


@accepts(ImageSpec)
async def create(request: Request) -> JSONResponse:
    actor = authorize(request, "image:add_image")
    spec = await parse_body(request, ImageSpec)
    if spec.visibility == "public":
        state(request).policy.enforce(actor, "image:publicize_image")
    # Property names and values are checked by the domain (Image.validate_fields).
    extra = {k: v for k, v in (spec.model_extra or {}).items() if k not in _CORE | _IGNORED}
    cmd = CreateImage(
        name=spec.name,
        disk_format=spec.disk_format,
        container_format=spec.container_format,
        visibility=spec.visibility,
        min_disk=spec.min_disk,
        min_ram=spec.min_ram,
        properties=extra,
    )
    receipt = await run_in_threadpool(state(request).services.create_image, cmd, actor)
    await read_your_writes(request, receipt)
    row = await _visible(request, actor, str(receipt.id))
    return JSONResponse(render(request, row), 201)


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_images")
    params = request.query_params
    try:
        limit = min(int(params.get("limit", 1000)), 1000)
    except ValueError:
        raise BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise BadRequest("limit param must be positive")
    query = image_list(actor.project_id, actor.is_admin, params.get("name"), limit)
    rows = await state(request).reads.all(query)
    return JSONResponse(
        {
            "images": [render(request, r) for r in rows],
            "schema": "/v2/schemas/images",
            "first": "/v2/images",
        }
    )


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_image")
    row = await _visible(request, actor, request.path_params["id"])
    return JSONResponse(render(request, row))


async def delete(request: Request) -> Response:
    actor = authorize(request, "image:delete_image")
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_image, request.path_params["id"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


routes = [
    Route("/image", versions),
    Route("/image/", versions),
    Route("/image/versions", versions),
    Route("/image/v2/images", create, methods=["POST"]),
    Route("/image/v2/images", index, methods=["GET"]),
    Route("/image/v2/images/{id}", show, methods=["GET"]),
    Route("/image/v2/images/{id}", delete, methods=["DELETE"]),
]
