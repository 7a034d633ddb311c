"""Image v2 metadata routes: the JSON-patch (``image set/unset``), tags and
deactivation. The patch is applied to the Image aggregate by the command
(commands/image_patch.py); these routes check the media type and policy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, RootModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, read_your_writes, state
from api.errors import UnsupportedMediaType
from api.images import VISIBILITY_RULES, render, visible
from api.json_patch_draft4 import as_rfc6902
from api.limits import parse_json
from api.responses import JSONResponse
from commands.image_patch import checked_document
from domain.errors import NotFound
from domain.values import Actor, require_text

PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
# Glance still takes the older draft-4 form too (tempest and old clients send it).
DRAFT4_PATCH_MEDIA_TYPE = "application/openstack-images-v2.0-json-patch"


class PatchOperation(BaseModel):
    """One operation of Glance's JSON-patch (RFC 6902, add/replace/remove)."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["add", "replace", "remove"]
    path: str
    value: Any = None


class ImagePatch(RootModel[list[PatchOperation]]):
    """The patch document: a JSON array of operations."""


async def _patch_document(request: Request) -> list[dict[str, Any]]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in (PATCH_MEDIA_TYPE, DRAFT4_PATCH_MEDIA_TYPE):
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {media_type or 'none'!r}: send {PATCH_MEDIA_TYPE}"
        )
    doc = parse_json(await request.body(), "application/json")
    if media_type == DRAFT4_PATCH_MEDIA_TYPE:
        doc = as_rfc6902(doc)
    return checked_document(doc)


def _check_visibility_rules(request: Request, actor: Actor, ops: list[dict[str, Any]]) -> None:
    for op in ops:
        value = op.get("value")  # any JSON: a list or an object is not a key (the domain says 400)
        if op["path"] == "/visibility" and isinstance(value, str) and value in VISIBILITY_RULES:
            state(request).policy.enforce(actor, VISIBILITY_RULES[value])


@accepts(ImagePatch)
async def update(request: Request) -> JSONResponse:
    """Change an image's core and additional properties (Glance's PATCH)."""
    actor = authorize(request, "image:modify_image")
    ops = await _patch_document(request)
    _check_visibility_rules(request, actor, ops)
    svc, guard = state(request).services, state(request).image_protections
    image_id = request.path_params["id"]
    receipt = await run_in_threadpool(svc.patch_image, image_id, ops, actor, guard)
    await read_your_writes(request, receipt)
    return JSONResponse(render(request, await visible(request, actor, image_id), actor))


def _tag(request: Request) -> str:
    tag: str = request.path_params["tag"]
    require_text(tag, "Image tag")  # 400 otherwise
    return tag


async def _change_tags(request: Request, actor: Actor, tag: str, add: bool) -> None:
    image_id = request.path_params["id"]
    row = await visible(request, actor, image_id)
    if not add and tag not in row["tags"]:
        raise NotFound(f"Tag {tag} not found")

    def change(tags: list[str]) -> list[str]:
        return [*tags, tag] if add else [t for t in tags if t != tag]

    receipt = await run_in_threadpool(
        state(request).services.change_image_tags, image_id, change, actor
    )
    await read_your_writes(request, receipt)


async def add_tag(request: Request) -> Response:
    """Tag the image (idempotent)."""
    actor = authorize(request, "image:modify_image")
    await _change_tags(request, actor, _tag(request), add=True)
    return Response(status_code=204)


async def delete_tag(request: Request) -> Response:
    """Remove a tag (404 if the image has not got it)."""
    actor = authorize(request, "image:modify_image")
    await _change_tags(request, actor, _tag(request), add=False)
    return Response(status_code=204)


async def _set_active(request: Request, rule: str, active: bool) -> Response:
    actor = authorize(request, rule)
    image_id = request.path_params["id"]
    await visible(request, actor, image_id)
    receipt = await run_in_threadpool(
        state(request).services.set_image_active, image_id, active, actor
    )
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    """Deactivate an active image: no boots, no downloads but an admin's."""
    return await _set_active(request, "image:deactivate", active=False)


async def reactivate(request: Request) -> Response:
    """Make a deactivated image active again."""
    return await _set_active(request, "image:reactivate", active=True)


routes = [
    Route("/image/v2/images/{id}", update, methods=["PATCH"]),
    Route("/image/v2/images/{id}/tags/{tag}", add_tag, methods=["PUT"]),
    Route("/image/v2/images/{id}/tags/{tag}", delete_tag, methods=["DELETE"]),
    Route("/image/v2/images/{id}/actions/deactivate", deactivate, methods=["POST"]),
    Route("/image/v2/images/{id}/actions/reactivate", reactivate, methods=["POST"]),
]
