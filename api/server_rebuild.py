"""The ``rebuild`` server action: the server is built again from an image
(commands/server_rebuild.py); 202 with the server as it now stands."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api import microversion, server_microversions
from api.context import NO_CONTROL_CHARS, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.servers import admin_password, render, visible_server
from commands.server_rebuild import RebuildServer
from domain.values import Actor


class RebuildArgs(BaseModel):
    """Nova's rebuild body (2.1 to 2.52)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    image_ref: str = Field(alias="imageRef", min_length=1, max_length=255)
    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    metadata: dict[str, str] | None = None
    admin_pass: str | None = Field(default=None, alias="adminPass", max_length=255)
    access_ipv4: str | None = Field(default=None, alias="accessIPv4", max_length=64)
    access_ipv6: str | None = Field(default=None, alias="accessIPv6", max_length=64)
    preserve_ephemeral: bool = False
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")


async def rebuild(request: Request, actor: Actor, asked: RebuildArgs) -> JSONResponse:
    state(request).policy.enforce(actor, "compute:servers:rebuild")
    if asked.preserve_ephemeral:
        raise BadRequest("preserve_ephemeral is not supported: a rebuild makes every disk anew")
    server_id = request.path_params["id"]
    cmd = RebuildServer(
        server_id,
        asked.image_ref.rstrip("/").rsplit("/", 1)[-1],  # an id, or a link ending in one
        asked.name,
        asked.metadata,
        asked.access_ipv4,
        asked.access_ipv6,
    )
    receipt = await run_in_threadpool(state(request).services.rebuild_server, cmd, actor)
    await read_your_writes(request, receipt)
    row = await visible_server(request, actor, server_id)
    version = microversion.requested(request)
    server = server_microversions.shown(render(request, row, actor), version, basic=True)
    # As on create, the password is only handed back: nothing delivers it to a guest yet.
    server["adminPass"] = asked.admin_pass or admin_password()
    return JSONResponse({"server": server}, 202)
