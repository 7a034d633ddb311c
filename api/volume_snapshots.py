"""Block Storage v3 snapshots: create (of an available volume, or ``force``
of an attached one), list, detail, show, update, delete, os-reset_status."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import volume_views as views
from api.context import NO_CONTROL_CHARS, accepts, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.volume_state import volume_state
from api.volumes import (
    V3,
    cinder_actor,
    listing_scope,
    metadata_filter,
    paging,
    parse_uuid_or_404,
    sort_params,
)
from commands.volume_snapshots import CreateSnapshot
from domain.errors import NotFound
from domain.values import Actor
from projections.volume_snapshots import SNAPSHOT_SORTS, snapshot_by_id, snapshots_page

_TRUE = ("true", "1", "yes", "t", "on")
_FALSE = ("false", "0", "no", "f", "off")
_KNOWN = {
    "name",
    "status",
    "volume_id",
    "metadata",
    "all_tenants",
    "project_id",
    "limit",
    "marker",
    "offset",
    "sort",
    "sort_key",
    "sort_dir",
    "with_count",
}


async def visible_snapshot_row(request: Request, actor: Actor, snapshot_id: str) -> Any:
    row = await state(request).reads.one(snapshot_by_id(parse_uuid_or_404(snapshot_id, "Snapshot")))
    if row is None or not (actor.is_admin or row["project_id"] == actor.project_id):
        raise NotFound(f"Snapshot {snapshot_id[:64]} could not be found.")
    return row


class SnapshotSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    volume_id: str | None = Field(default=None, max_length=255)
    force: bool = False
    name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    metadata: dict[str, str] | None = None

    @field_validator("force", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if value is None:
            return False
        if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
            return value.strip().lower() in _TRUE
        return value


class CreateSnapshotBody(BaseModel):
    snapshot: SnapshotSpec


@accepts(CreateSnapshotBody)
async def create(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:snapshots:create")
    spec = (await parse_body(request, CreateSnapshotBody)).snapshot
    if not spec.volume_id:  # Cinder answers 404: no volume named
        raise NotFound("Volume None could not be found.")
    cmd = CreateSnapshot(
        volume_id=spec.volume_id,
        name=spec.name if spec.name is not None else spec.display_name or "",
        description=spec.description
        if spec.description is not None
        else spec.display_description or "",
        force=spec.force,
        metadata=dict(spec.metadata or {}),
    )
    commands = volume_state(request).commands
    receipt = await run_in_threadpool(commands.create_snapshot, cmd, actor)
    await read_your_writes(request, receipt)
    row = await visible_snapshot_row(request, actor, str(receipt.id))
    return JSONResponse({"snapshot": views.snapshot(request, row, detail=False)}, 202)


async def _listing(request: Request, actor: Actor) -> tuple[list[Any], int]:
    params = request.query_params
    unknown = set(params) - _KNOWN
    if unknown:
        shown = ", ".join(sorted(k[:40] for k in unknown))
        raise BadRequest(f"Invalid filters {shown} are found in query options.")
    filters: dict[str, Any] = {k: params[k] for k in ("name", "status", "volume_id") if k in params}
    if "metadata" in params:
        filters["metadata"] = metadata_filter(params["metadata"])
    sort = sort_params(request, SNAPSHOT_SORTS) or [("created_at", "desc")]
    limit, offset = paging(request)
    marker = None
    if "marker" in params:
        await visible_snapshot_row(request, actor, params["marker"])
        marker = UUID(params["marker"])
    page = snapshots_page(listing_scope(request, actor), limit, filters, sort, marker, offset)
    return await state(request).reads.all(page), limit


async def index(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:snapshots:get_all")
    rows, limit = await _listing(request, actor)
    body: dict[str, Any] = {"snapshots": [views.snapshot(request, r, False) for r in rows]}
    if more := views.next_link(request, "snapshots", rows, limit):
        body["snapshots_links"] = more
    return JSONResponse(body)


async def detail(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:snapshots:get_all")
    rows, limit = await _listing(request, actor)
    body: dict[str, Any] = {"snapshots": [views.snapshot(request, r, True) for r in rows]}
    if more := views.next_link(request, "snapshots/detail", rows, limit):
        body["snapshots_links"] = more
    return JSONResponse(body)


async def show(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:snapshots:get")
    row = await visible_snapshot_row(request, actor, request.path_params["id"])
    return JSONResponse({"snapshot": views.snapshot(request, row, detail=True)})


class SnapshotChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)


class UpdateSnapshotBody(BaseModel):
    snapshot: SnapshotChange


@accepts(UpdateSnapshotBody)
async def update(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:snapshots:update")
    change = (await parse_body(request, UpdateSnapshotBody)).snapshot
    snapshot_id = request.path_params["id"]
    await visible_snapshot_row(request, actor, snapshot_id)
    name = change.name if change.name is not None else change.display_name
    description = (
        change.description if change.description is not None else change.display_description
    )
    commands = volume_state(request).commands
    receipt = await run_in_threadpool(
        commands.update_snapshot, snapshot_id, name, description, actor
    )
    await read_your_writes(request, receipt)
    row = await visible_snapshot_row(request, actor, snapshot_id)
    return JSONResponse({"snapshot": views.snapshot(request, row, detail=False)})


async def delete(request: Request) -> Response:
    actor = cinder_actor(request, "volume:snapshots:delete")
    commands = volume_state(request).commands
    receipt = await run_in_threadpool(commands.delete_snapshot, request.path_params["id"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=202)


class ResetSnapshotStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(max_length=255)


class SnapshotAction(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    reset_status: ResetSnapshotStatus = Field(alias="os-reset_status")


@accepts(SnapshotAction)
async def act(request: Request) -> Response:
    """os-reset_status (admin), the only snapshot action served."""
    actor = cinder_actor(request, "volume:snapshots:reset_status")
    action = await parse_body(request, SnapshotAction)
    snapshot_id = request.path_params["id"]
    await visible_snapshot_row(request, actor, snapshot_id)
    commands = volume_state(request).commands
    receipt = await run_in_threadpool(
        commands.reset_snapshot_status, snapshot_id, action.reset_status.status, actor
    )
    await read_your_writes(request, receipt)
    return Response(status_code=202)


routes = [
    Route(f"{V3}/snapshots", create, methods=["POST"]),
    Route(f"{V3}/snapshots", index, methods=["GET"]),
    Route(f"{V3}/snapshots/detail", detail, methods=["GET"]),
    Route(f"{V3}/snapshots/{{id}}", show, methods=["GET"]),
    Route(f"{V3}/snapshots/{{id}}", update, methods=["PUT"]),
    Route(f"{V3}/snapshots/{{id}}", delete, methods=["DELETE"]),
    Route(f"{V3}/snapshots/{{id}}/action", act, methods=["POST"]),
]
