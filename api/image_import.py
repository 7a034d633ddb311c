"""Glance's interoperable image import, method glance-direct: stage the
bytes, then import them (commands/image_import.py). What `openstack image
create --import` uses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.image_data import stream_body
from api.responses import JSONResponse
from domain.image_import import IMPORT_METHODS


async def stage(request: Request) -> Response:
    """Stage an image's data for a later import ('uploading')."""
    await stream_body(request, state(request).services.stage_image)
    return Response(status_code=204)


class ImportMethod(BaseModel):
    model_config = ConfigDict(extra="allow")  # Glance's methods carry more (uri, ...)
    name: Literal["glance-direct"]


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # stores, all_stores_must_succeed ...
    method: ImportMethod


@accepts(ImportRequest)
async def import_(request: Request) -> Response:
    """Import the staged data ('importing', then 'active')."""
    actor = authorize(request, "image:import_image")
    body = await parse_body(request, ImportRequest)
    svc = state(request).services
    receipt = await run_in_threadpool(
        svc.import_image, request.path_params["id"], body.method.name, actor
    )
    await read_your_writes(request, receipt)
    return Response(status_code=202)


async def import_info(request: Request) -> JSONResponse:
    """The import methods this cloud offers."""
    authorize(request, "image:get_images")
    methods = {"description": "Import methods available.", "type": "array"}
    return JSONResponse({"import-methods": {**methods, "value": list(IMPORT_METHODS)}})


routes = [
    Route("/image/v2/images/{id}/stage", stage, methods=["PUT"]),
    Route("/image/v2/images/{id}/import", import_, methods=["POST"]),
    Route("/image/v2/info/import", import_info, methods=["GET"]),
]
