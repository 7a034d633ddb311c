"""``POST /volume/v3/{project_id}/volumes/{id}/action``: os-extend,
os-reset_status (admin), os-set_bootable, os-update_readonly_flag,
os-reserve and os-unreserve, os-volume_upload_image, in Cinder's bodies
and statuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import volume_microversion as mv
from api import volume_views as views
from api.context import NO_CONTROL_CHARS, accepts, read_your_writes, state
from api.errors import BadRequest
from api.limits import parse_json
from api.responses import JSONResponse
from api.volume_state import volume_state
from api.volume_types import find_type
from api.volumes import V3, cinder_actor, visible_volume_row
from commands.receipt import Receipt
from commands.volume_upload import UploadToImage
from domain.values import INT32_MAX, Actor

_TRUE = ("true", "1", "yes", "t", "on")
_FALSE = ("false", "0", "no", "f", "off")


def _flag(value: Any, what: str) -> bool:
    """Cinder's booleans: true/false, or their strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    raise ValueError(f"{what} must be a boolean")


class Extend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_size: int = Field(ge=1, le=INT32_MAX)

    @field_validator("new_size", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, bool | float) or (
            isinstance(value, str) and not value.strip().isdigit()
        ):
            raise ValueError("new_size must be an integer")
        return value


class ResetStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(default=None, max_length=255)
    attach_status: str | None = Field(default=None, max_length=255)
    migration_status: str | None = Field(default=None, max_length=255)


class SetBootable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bootable: bool

    @field_validator("bootable", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> bool:
        return _flag(value, "bootable")


class UpdateReadonly(BaseModel):
    model_config = ConfigDict(extra="forbid")
    readonly: bool

    @field_validator("readonly", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> bool:
        return _flag(value, "readonly")


class UploadImage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image_name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    force: bool = False
    disk_format: str = Field(default="raw", max_length=20)
    container_format: str = Field(default="bare", max_length=20)
    visibility: str = Field(default="private", max_length=20)  # from 3.1
    protected: bool = False  # from 3.1 (not kept: images are made unprotected)

    @field_validator("force", "protected", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> bool:
        return False if value is None else _flag(value, "force")


class VolumeAction(BaseModel):
    """Exactly one action (the others absent)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    extend: Extend | None = Field(default=None, alias="os-extend")
    reset_status: ResetStatus | None = Field(default=None, alias="os-reset_status")
    set_bootable: SetBootable | None = Field(default=None, alias="os-set_bootable")
    update_readonly: UpdateReadonly | None = Field(default=None, alias="os-update_readonly_flag")
    reserve: dict[str, Any] | None = Field(default=None, alias="os-reserve")
    unreserve: dict[str, Any] | None = Field(default=None, alias="os-unreserve")
    upload_image: UploadImage | None = Field(default=None, alias="os-volume_upload_image")


Handler = Callable[[Request, str, Actor, Any], Awaitable[Receipt]]


async def _extend(request: Request, volume_id: str, actor: Actor, body: Extend) -> Receipt:
    state(request).policy.enforce(actor, "volume:volumes:extend")
    commands = volume_state(request).commands
    return await run_in_threadpool(commands.extend_volume, volume_id, body.new_size, actor)


async def _reset(request: Request, volume_id: str, actor: Actor, body: ResetStatus) -> Receipt:
    state(request).policy.enforce(actor, "volume:volumes:reset_status")
    if body.status is None:
        raise BadRequest("Invalid input received: Must specify 'status'")
    commands = volume_state(request).commands
    return await run_in_threadpool(commands.reset_volume_status, volume_id, body.status, actor)


async def _bootable(request: Request, volume_id: str, actor: Actor, body: SetBootable) -> Receipt:
    state(request).policy.enforce(actor, "volume:volumes:set_bootable")
    commands = volume_state(request).commands
    return await run_in_threadpool(commands.set_bootable, volume_id, body.bootable, actor)


async def _readonly(
    request: Request, volume_id: str, actor: Actor, body: UpdateReadonly
) -> Receipt:
    state(request).policy.enforce(actor, "volume:volumes:update_readonly_flag")
    commands = volume_state(request).commands
    return await run_in_threadpool(commands.set_readonly, volume_id, body.readonly, actor)


def _reserving(reserve: bool) -> Handler:
    async def handle(request: Request, volume_id: str, actor: Actor, body: Any) -> Receipt:
        state(request).policy.enforce(actor, "volume:volumes:reserve")
        commands = volume_state(request).commands
        return await run_in_threadpool(commands.reserve_volume, volume_id, reserve, actor)

    return handle


# action key -> (its handler, the status Cinder answers with)
_ACTIONS: dict[str, tuple[Handler, int]] = {
    "extend": (_extend, 202),
    "reset_status": (_reset, 202),
    "set_bootable": (_bootable, 200),
    "update_readonly": (_readonly, 202),
    "reserve": (_reserving(True), 202),
    "unreserve": (_reserving(False), 202),
}


async def _upload_image(
    request: Request, volume_id: str, actor: Actor, body: UploadImage
) -> JSONResponse:
    """``volume create image`` (``image create --volume``): 202 with Cinder's answer."""
    policy = state(request).policy
    policy.enforce(actor, "volume:volumes:upload_image")
    if body.visibility == "public":
        policy.enforce(actor, "volume:volumes:upload_public")
    cmd = UploadToImage(
        volume_id,
        body.image_name,
        body.disk_format,
        body.container_format,
        body.visibility,
        body.force,
    )
    started = await run_in_threadpool(volume_state(request).commands.upload_to_image, cmd, actor)
    await read_your_writes(request, started.receipt)
    row = await visible_volume_row(request, actor, volume_id)
    shown = {
        "id": row["id"],
        "updated_at": row["updated"],
        "status": row["status"],
        "display_description": row["description"] or None,
        "size": row["size"],
        "volume_type": views.volume_type(await find_type(request, actor, row["volume_type_id"])),
        "image_id": started.image_id,
        "container_format": body.container_format,
        "disk_format": body.disk_format,
        "image_name": body.image_name,
    }
    if mv.at_least(request, (3, 1)):
        shown.update(visibility=body.visibility, protected=False)
    return JSONResponse({"os-volume_upload_image": shown}, 202)


@accepts(VolumeAction)
async def act(request: Request) -> Response:
    actor = cinder_actor(request, "volume:volumes:action")
    volume_id = request.path_params["id"]
    data = parse_json(await request.body(), request.headers.get("content-type"))
    if not isinstance(data, dict) or len(data) != 1:
        raise BadRequest("Malformed request body: one action is expected")
    (name,) = data
    try:
        action = VolumeAction.model_validate(data)
    except ValidationError as exc:
        if any(e["type"] == "extra_forbidden" and len(e["loc"]) == 1 for e in exc.errors()):
            raise BadRequest(f"There is no such action: {str(name)[:40]}") from None
        raise
    await visible_volume_row(request, actor, volume_id)
    if action.upload_image is not None:
        return await _upload_image(request, volume_id, actor, action.upload_image)
    given = [key for key in _ACTIONS if key in action.model_fields_set]
    (key,) = given
    handler, status = _ACTIONS[key]
    receipt = await handler(request, volume_id, actor, getattr(action, key))
    await read_your_writes(request, receipt)
    return Response(status_code=status)


routes = [Route(f"{V3}/volumes/{{id}}/action", act, methods=["POST"])]
