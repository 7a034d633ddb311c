"""Compute v2.1 os-volume_attachments: a server's volumes (``server add
volume``, ``server remove volume``, ``server volume list``), and the
volumes each server shows in ``os-extended-volumes:volumes_attached``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion
from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.servers import visible_server
from api.volume_state import volume_state
from domain.errors import NotFound
from projections.server_volumes import volume_of_server, volumes_of_servers

ATTACHMENTS = "/compute/v2.1/servers/{id}/os-volume_attachments"


def _render(row: DictRow) -> dict[str, Any]:
    return {
        "id": row["volume_id"],
        "serverId": row["server_id"],
        "volumeId": row["volume_id"],
        "device": row["device"],
    }


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:volume_attachments:index")
    server = await visible_server(request, actor, request.path_params["id"])
    rows = await state(request).reads.all(volumes_of_servers([server["id"]]))
    params = request.query_params
    try:
        offset = max(int(params.get("offset", 0)), 0)
        limit = int(params["limit"]) if "limit" in params else len(rows)
    except ValueError:
        raise BadRequest("limit and offset must be integers") from None
    page = rows[offset : offset + max(limit, 0)]
    return JSONResponse({"volumeAttachments": [_render(r) for r in page]})


async def _attachment(request: Request, server_id: str, volume_id: str) -> DictRow:
    try:
        wanted = UUID(volume_id)
    except ValueError:
        raise NotFound(f"Volume {volume_id[:64]} is not attached to the server.") from None
    row = await state(request).reads.one(volume_of_server(server_id, wanted))
    if row is None:
        raise NotFound(f"Volume {volume_id[:64]} is not attached to the server.")
    return row


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:volume_attachments:show")
    server = await visible_server(request, actor, request.path_params["id"])
    row = await _attachment(request, server["id"], request.path_params["volume_id"])
    return JSONResponse({"volumeAttachment": _render(row)})


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volumeId: str = Field(min_length=1, max_length=255)
    device: str | None = Field(default=None, max_length=255)  # a hint Nova may ignore; so do we
    tag: str | None = Field(default=None, max_length=60)  # 2.49


class AttachBody(BaseModel):
    volumeAttachment: _Attachment


@accepts(AttachBody)
async def create(request: Request) -> JSONResponse:
    """Attach: the next free device of vdc, vdd ... A volume in use or in
    error is 409 and nothing is appended."""
    actor = authorize(request, "compute:volume_attachments:create")
    given = (await parse_body(request, AttachBody)).volumeAttachment
    if given.tag is not None and microversion.requested(request) < (2, 49):
        raise BadRequest("Tagged volume attachments need compute microversion 2.49 or later")
    server_id = request.path_params["id"]
    await visible_server(request, actor, server_id)
    commands = volume_state(request).commands
    attached = await run_in_threadpool(
        commands.attach_volume, server_id, given.volumeId, False, actor
    )
    await read_your_writes(request, attached.receipt)
    shown = {
        "id": str(attached.receipt.id),
        "serverId": server_id,
        "volumeId": str(attached.receipt.id),
        "device": attached.device,
    }
    return JSONResponse({"volumeAttachment": shown})


async def delete(request: Request) -> Response:
    actor = authorize(request, "compute:volume_attachments:delete")
    server_id = request.path_params["id"]
    await visible_server(request, actor, server_id)
    commands = volume_state(request).commands
    receipt = await run_in_threadpool(
        commands.detach_volume, server_id, request.path_params["volume_id"], actor
    )
    await read_your_writes(request, receipt)
    return Response(status_code=202)


routes = [
    Route(ATTACHMENTS, index, methods=["GET"]),
    Route(ATTACHMENTS, create, methods=["POST"]),
    Route(f"{ATTACHMENTS}/{{volume_id}}", show, methods=["GET"]),
    Route(f"{ATTACHMENTS}/{{volume_id}}", delete, methods=["DELETE"]),
]
