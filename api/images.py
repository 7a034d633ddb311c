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

from api import image_filters
from api.context import (
    accepts,
    authorize,
    base_url,
    parse_body,
    read_your_writes,
    state,
)
from api.responses import JSONResponse
from commands.images import CreateImage
from domain.errors import NotFound
from domain.image_import import IMPORT_METHODS
from domain.values import INT32_MAX, Actor
from projections.image_listing import image_list
from projections.images import image_by_id

_CORE = {"name", "disk_format", "container_format", "visibility", "min_disk", "min_ram"}
_IGNORED = {"protected", "tags", "os_hidden"}
# Who may set a visibility (create and patch); the others need only the action's rule.
VISIBILITY_RULES = {"public": "image:publicize_image", "community": "image:communitize_image"}


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
    os_hidden: bool = False
    tags: list[str] = Field(default=[], max_length=128)


def render(request: Request, row: DictRow, actor: Actor | None = None) -> dict[str, Any]:
    iid = str(row["id"])
    body: dict[str, Any] = dict(row["properties"])
    guard = state(request).image_protections
    if guard is not None:  # a property the caller may not read is absent
        body = {k: v for k, v in body.items() if actor and guard.allows(actor, "read", k)}
    body.update(
        {
            "id": iid,
            "name": row["name"],
            "status": row["status"],
            "visibility": row["visibility"],
            "protected": row["protected"],
            "os_hidden": row["os_hidden"],
            "checksum": row["checksum"],
            "os_hash_algo": row["hash_algo"],
            "os_hash_value": row["hash_value"],
            "size": row["size"],
            "virtual_size": row.get("virtual_size"),  # None until inspected
            "disk_format": row["disk_format"],
            "container_format": row["container_format"],
            "min_disk": row["min_disk"],
            "min_ram": row["min_ram"],
            "owner": row["owner"],
            "tags": list(row["tags"]),
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


async def visible(request: Request, actor: Actor, image_id: str) -> DictRow:
    """The image's row if the caller may see it, else 404 (the metadata routes use it)."""
    return await _visible(request, actor, image_id)


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
    if spec.visibility in VISIBILITY_RULES:
        state(request).policy.enforce(actor, VISIBILITY_RULES[spec.visibility])
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
        tags=spec.tags,
        protected=spec.protected,
        os_hidden=spec.os_hidden,
    )
    guard = state(request).image_protections
    receipt = await run_in_threadpool(state(request).services.create_image, cmd, actor, guard)
    await read_your_writes(request, receipt)
    row = await _visible(request, actor, str(receipt.id))
    # Glance names its import methods here; the sdk imports only if it sees them.
    methods = {"OpenStack-image-import-methods": ",".join(IMPORT_METHODS)}
    return JSONResponse(render(request, row, actor), 201, headers=methods)


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_images")
    guard = state(request).image_protections
    listing = image_filters.listing(
        request.query_params, actor, lambda key: guard is None or guard.allows(actor, "read", key)
    )
    if listing.marker is not None:
        await image_filters.check_marker(request, actor, listing.marker, visible)
    rows = await state(request).reads.all(image_list(listing))
    body: dict[str, Any] = {
        "images": [render(request, r, actor) for r in rows],
        "schema": "/v2/schemas/images",
        "first": "/v2/images",
    }
    if rows and len(rows) == listing.limit:
        body["next"] = image_filters.next_link(request.query_params, str(rows[-1]["id"]))
    return JSONResponse(body)


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_image")
    row = await _visible(request, actor, request.path_params["id"])
    return JSONResponse(render(request, row, actor))


async def delete(request: Request) -> Response:
    actor = authorize(request, "image:delete_image")
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_image, request.path_params["id"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def no_image(request: Request) -> Response:
    """``/v2/images/`` names an image with an empty id: none exists (Glance's
    404), where a redirect to the list would show, or DELETE would 405."""
    rule = "image:delete_image" if request.method == "DELETE" else "image:get_image"
    authorize(request, rule)
    raise NotFound("No image found with ID ''")


routes = [
    Route("/image", versions),
    Route("/image/", versions),
    Route("/image/versions", versions),
    Route("/image/v2/images", create, methods=["POST"]),
    Route("/image/v2/images", index, methods=["GET"]),
    Route("/image/v2/images/{id}", show, methods=["GET"]),
    Route("/image/v2/images/{id}", delete, methods=["DELETE"]),
    Route("/image/v2/images/", no_image, methods=["GET", "DELETE"]),
]
