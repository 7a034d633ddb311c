"""Nova's image proxy (``/compute/v2.1/images``): the images of the image
service as compute 2.1 to 2.35 shows them; gone from 2.36, as in Nova."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import image_filters, microversion
from api.context import authorize, base_url, read_your_writes, state
from api.images import render as render_image
from api.images import visible
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import Actor
from projections.image_listing import image_list

LAST_VERSION = (2, 35)  # 2.36 retired the proxy
# Glance's status -> Nova's, and the progress Nova shows with it.
_STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "uploading": "SAVING",
           "importing": "SAVING", "deleted": "DELETED", "pending_delete": "DELETED",
           "killed": "ERROR"}  # fmt: skip
_PROGRESS = {"queued": 25, "saving": 50, "active": 100}


def _proxy_open(request: Request) -> None:
    if microversion.requested(request) > LAST_VERSION:
        raise NotFound("The image proxy API was removed in compute 2.36: use the image service")


def _links(request: Request, image_id: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/images/{image_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/images/{image_id}"},
        {"rel": "alternate", "type": "application/vnd.openstack.image",
         "href": f"{base}/image/v2/images/{image_id}"},
    ]  # fmt: skip


def _detail(request: Request, row: DictRow, actor: Actor) -> dict[str, Any]:
    glance = render_image(request, row, actor)
    image_id, status = glance["id"], glance["status"]
    core = set(glance) - set(row["properties"])
    image: dict[str, Any] = {
        "id": image_id,
        "name": glance["name"],
        "minRam": glance["min_ram"],
        "minDisk": glance["min_disk"],
        "metadata": {k: v for k, v in glance.items() if k not in core},
        "created": glance["created_at"],
        "updated": glance["updated_at"],
        "status": _STATUS.get(status, "UNKNOWN"),
        "progress": _PROGRESS.get(status, 0),
        "OS-EXT-IMG-SIZE:size": glance["size"],
        "links": _links(request, image_id),
    }
    server_id = image["metadata"].get("instance_uuid")
    if server_id:
        base = base_url(request)
        image["server"] = {
            "id": server_id,
            "links": [
                {"rel": "self", "href": f"{base}/compute/v2.1/servers/{server_id}"},
                {"rel": "bookmark", "href": f"{base}/compute/servers/{server_id}"},
            ],
        }
    return image


def glance_filters(params: QueryParams) -> QueryParams:
    """Nova's image list filters as the image list's own (Nova's proxy does
    the same): ``server`` and ``type`` are properties, ``status`` is lower
    case, ``changes-since`` is a time; others Nova ignores are dropped."""
    kept: list[tuple[str, str]] = []
    for key, value in params.multi_items():
        if key in ("name", "limit", "marker"):
            kept.append((key, value))
        elif key == "status":
            kept.append(("status", value.lower()))
        elif key == "changes-since":
            kept.append(("updated_at", f"gte:{value}"))
        elif key == "server":
            kept.append(("instance_uuid", value.rstrip("/").rsplit("/", 1)[-1]))
        elif key == "type":
            kept.append(("image_type", value))
    return QueryParams(kept)


async def _listed(request: Request, actor: Actor) -> list[DictRow]:
    listing = image_filters.listing(glance_filters(request.query_params), actor)
    if listing.marker is not None:
        await image_filters.check_marker(request, actor, listing.marker, visible)
    return await state(request).reads.all(image_list(listing))


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_images")
    _proxy_open(request)
    images = [
        {"id": str(r["id"]), "name": r["name"], "links": _links(request, str(r["id"]))}
        for r in await _listed(request, actor)
    ]
    return JSONResponse({"images": images})


async def detail(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_images")
    _proxy_open(request)
    rows = await _listed(request, actor)
    return JSONResponse({"images": [_detail(request, r, actor) for r in rows]})


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "image:get_image")
    _proxy_open(request)
    row = await visible(request, actor, request.path_params["id"])
    return JSONResponse({"image": _detail(request, row, actor)})


async def delete(request: Request) -> Response:
    actor = authorize(request, "image:delete_image")
    _proxy_open(request)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_image, request.path_params["id"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def no_image(request: Request) -> Response:
    """``/images/`` names an image with an empty id: none (Nova's 404, not a list or 405)."""
    rule = "image:delete_image" if request.method == "DELETE" else "image:get_image"
    authorize(request, rule)
    _proxy_open(request)
    raise NotFound("Image not found.")


routes = [
    Route("/compute/v2.1/images", index, methods=["GET"]),
    Route("/compute/v2.1/images/", no_image, methods=["GET", "DELETE"]),
    Route("/compute/v2.1/images/detail", detail, methods=["GET"]),
    Route("/compute/v2.1/images/{id}", show, methods=["GET"]),
    Route("/compute/v2.1/images/{id}", delete, methods=["DELETE"]),
]
