"""Compute v2.1 server actions (``POST /servers/{id}/action``): stop,
start, reboot, pause, suspend, lock and their undoing, createImage and the
console output. Each is a transition of the Instance (409 when its state
forbids it); most are then a job on the server's host."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion
from api.context import (
    NO_CONTROL_CHARS,
    accepts,
    authenticate,
    base_url,
    parse_body,
    read_your_writes,
    state,
)
from api.errors import BadRequest
from api.responses import JSONResponse
from api.server_rebuild import RebuildArgs, rebuild
from api.servers import act, visible_server
from domain import server_states
from domain.errors import Conflict
from domain.values import Actor, VmState


class _Reboot(BaseModel):
    type: Literal["SOFT", "HARD", "soft", "hard"]


class _ConsoleOutput(BaseModel):
    length: int | str | None = None  # Nova takes a number, or a numeric string


class _Resize(BaseModel):
    flavor_ref: str | int = Field(alias="flavorRef")
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")


class _CreateImage(BaseModel):
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=128)


class _NoArguments(BaseModel):
    """What an action without arguments takes: Nova accepts null or {}."""

    model_config = ConfigDict(extra="forbid")


# null or {} (tempest and openstacksdk send {}); only the action's name counts.
_Bare = _NoArguments | None


class ServerActionBody(BaseModel):
    """Exactly one action; each is a transition of the Instance (409 when
    its state forbids it) and, for the power ones, a job on its host."""

    model_config = ConfigDict(extra="forbid")
    os_stop: _Bare = Field(default=None, alias="os-stop")
    os_start: _Bare = Field(default=None, alias="os-start")
    reboot: _Reboot | None = None
    pause: _Bare = None
    unpause: _Bare = None
    suspend: _Bare = None
    resume: _Bare = None
    lock: _Bare = None
    unlock: _Bare = None
    console: _ConsoleOutput | None = Field(default=None, alias="os-getConsoleOutput")
    create_image: _CreateImage | None = Field(default=None, alias="createImage")
    resize: _Resize | None = None
    confirm_resize: _Bare = Field(default=None, alias="confirmResize")
    revert_resize: _Bare = Field(default=None, alias="revertResize")
    rebuild: RebuildArgs | None = None


# The body's key -> the verb commands/servers.py knows (and its policy rule).
_VERBS = {"os_stop": "stop", "os_start": "start"}


@accepts(ServerActionBody)
async def action(request: Request) -> Response:
    actor = authenticate(request)  # an anonymous caller gets 401, not a body check
    body = await parse_body(request, ServerActionBody)
    given = body.model_fields_set
    if len(given) != 1:
        raise BadRequest("Give exactly one action, such as os-stop, os-start or reboot")
    (key,) = given
    if (
        key in ("reboot", "console", "create_image", "resize", "rebuild")
        and getattr(body, key) is None
    ):
        raise BadRequest(f"The {key} action needs an object (for reboot, its type)")
    if body.console is not None:
        return await _console_output(request, actor, body.console)
    if body.create_image is not None:
        return await _create_image(request, actor, body.create_image)
    if body.rebuild is not None:
        return await rebuild(request, actor, body.rebuild)
    if key in _RESIZE_STEPS:
        return await _resize_step(request, actor, key, body.resize)
    verb = _VERBS.get(key, key)
    rule = f"compute:servers:{verb}"
    if body.reboot is not None and body.reboot.type.upper() == "HARD":
        verb = "reboot_hard"
    state(request).policy.enforce(actor, rule)
    receipt = await act(request, verb, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=202)


# The body's key -> the policy rule's verb, and the Services method.
_RESIZE_STEPS = {
    "resize": "resize",
    "confirm_resize": "confirm_resize",
    "revert_resize": "revert_resize",
}


async def _resize_step(request: Request, actor: Actor, key: str, asked: _Resize | None) -> Response:
    """resize (202, the hosts then move the guest), confirmResize and
    revertResize (204 and 202, as Nova answers)."""
    verb = _RESIZE_STEPS[key]
    state(request).policy.enforce(actor, f"compute:servers:{verb}")
    svc, server_id = state(request).services, request.path_params["id"]
    if asked is not None:
        receipt = await run_in_threadpool(
            svc.resize_server, server_id, str(asked.flavor_ref), actor
        )
    else:
        receipt = await run_in_threadpool(getattr(svc, verb), server_id, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204 if verb == "confirm_resize" else 202)


async def _create_image(request: Request, actor: Actor, asked: _CreateImage) -> Response:
    """Snapshot the server's root disk into a new private image; the image
    is queued until the host has uploaded it (``server image create``)."""
    state(request).policy.enforce(actor, "compute:servers:create_image")
    svc, server_id = state(request).services, request.path_params["id"]
    guard = state(request).image_protections
    receipt = await run_in_threadpool(
        svc.snapshot_server, server_id, asked.name, asked.metadata, actor, guard
    )
    await read_your_writes(request, receipt)
    if microversion.requested(request) >= (2, 45):
        return JSONResponse({"image_id": str(receipt.id)}, 202)  # and no Location
    location = f"{base_url(request)}/image/v2/images/{receipt.id}"
    return Response(status_code=202, headers={"Location": location})


async def _console_output(request: Request, actor: Actor, asked: _ConsoleOutput) -> Response:
    """The tail of the server's console, asked of its compute host."""
    state(request).policy.enforce(actor, "compute:servers:console_output")
    length: int | None = None
    if asked.length is not None:
        try:
            length = int(asked.length)
        except ValueError:
            raise BadRequest("length must be an integer") from None
        if length < -1:
            raise BadRequest("length must be -1 (all) or more")
        length = None if length == -1 else length
    row = await visible_server(request, actor, request.path_params["id"])
    if row["host"] is None or VmState(row["vm_state"]) not in server_states.CONSOLE_READABLE:
        raise Conflict(f"Instance {row['id']} is not ready yet")
    queue = f"compute.{row['host']}"
    output = await state(request).host_calls.call(
        queue, "workers.jobs.compute.console_output", row["id"], length
    )
    return JSONResponse({"output": output})


routes = [Route("/compute/v2.1/servers/{id}/action", action, methods=["POST"])]
