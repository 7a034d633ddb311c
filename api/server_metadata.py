"""Compute v2.1 server metadata: ``server set/unset --property`` and the
``/servers/{id}/metadata`` routes."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.servers import visible_server
from domain.errors import NotFound
from domain.values import Actor

# Nova's limits are checked by the Instance (128 items, 255 characters each).


class MetadataBody(BaseModel):
    metadata: dict[str, str] = Field(max_length=1024)


class MetaBody(BaseModel):
    meta: dict[str, str]


async def _metadata(request: Request, actor: Actor) -> dict[str, str]:
    row = await visible_server(request, actor, request.path_params["id"])
    metadata: dict[str, str] = row["metadata"]
    return metadata


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:metadata:index")
    return JSONResponse({"metadata": await _metadata(request, actor)})


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:metadata:show")
    key = request.path_params["key"]
    metadata = await _metadata(request, actor)
    if key not in metadata:
        raise NotFound(f"Metadata item was not found: {key}")
    return JSONResponse({"meta": {key: metadata[key]}})


async def _set(request: Request, actor: Actor, items: dict[str, str], replace: bool) -> None:
    svc, server_id = state(request).services, request.path_params["id"]
    receipt = await run_in_threadpool(svc.set_server_metadata, server_id, items, replace, actor)
    await read_your_writes(request, receipt)


@accepts(MetadataBody)
async def merge(request: Request) -> JSONResponse:
    """POST: add to and change the metadata; answers with all of it."""
    actor = authorize(request, "compute:servers:metadata:create")
    items = (await parse_body(request, MetadataBody)).metadata
    await _set(request, actor, items, replace=False)
    return JSONResponse({"metadata": await _metadata(request, actor)})


@accepts(MetadataBody)
async def replace_all(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:metadata:update_all")
    items = (await parse_body(request, MetadataBody)).metadata
    await _set(request, actor, items, replace=True)
    return JSONResponse({"metadata": await _metadata(request, actor)})


@accepts(MetaBody)
async def put_item(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:metadata:update")
    key = request.path_params["key"]
    meta = (await parse_body(request, MetaBody)).meta
    if len(meta) != 1:
        raise BadRequest("Request body contains too many items")
    if key not in meta:
        raise BadRequest("Request body and URI mismatch")
    await _set(request, actor, meta, replace=False)
    return JSONResponse({"meta": meta})


async def delete_item(request: Request) -> Response:
    actor = authorize(request, "compute:servers:metadata:delete")
    svc, server_id = state(request).services, request.path_params["id"]
    key = request.path_params["key"]
    receipt = await run_in_threadpool(svc.delete_server_metadata, server_id, key, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


_METADATA = "/compute/v2.1/servers/{id}/metadata"
routes = [
    Route(_METADATA, index, methods=["GET"]),
    Route(_METADATA, merge, methods=["POST"]),
    Route(_METADATA, replace_all, methods=["PUT"]),
    Route(_METADATA + "/{key}", show, methods=["GET"]),
    Route(_METADATA + "/{key}", put_item, methods=["PUT"]),
    Route(_METADATA + "/{key}", delete_item, methods=["DELETE"]),
]
